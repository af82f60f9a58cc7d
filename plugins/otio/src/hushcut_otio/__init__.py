"""hushcut-otio: a Hushcut plugin that exports cuts as timelines for video editors."""
