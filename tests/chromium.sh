#!/bin/sh
# Chromium for the browser tests, without CAP_SYS_NICE. Run as root (CI, this machine),
# Chromium can put its processes under SCHED_FIFO 99; when they then spin, they starve
# every other process on the box (seen: the test server's worker timing out). Without
# the capability, the kernel refuses realtime scheduling (RLIMIT_RTPRIO is 0) and
# Chromium carries on at normal priority.
browser="${HUSHCUT_CHROMIUM:-/usr/bin/chromium}"
if command -v setpriv >/dev/null 2>&1; then
    exec setpriv --bounding-set=-sys_nice "$browser" "$@"
fi
exec "$browser" "$@"
