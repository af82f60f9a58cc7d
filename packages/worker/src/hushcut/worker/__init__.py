"""Hushcut workers: the taskiq broker and the tasks that process jobs."""
