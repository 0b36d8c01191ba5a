#!/usr/bin/env bash
# Build an hours-long H.264 file by looping the shared 288.5 s concatenation of real clips (stream copy, no
# re-encode, so it takes seconds). Usage: benchmarks/make_long_video.sh HOURS OUT.mp4
set -euo pipefail
hours=${1:?hours}; out=${2:?output file}
src=$(cd "$(dirname "$0")/../../shared/media" && pwd)/concat_real_clips_640x360.mp4
loops=$(python3 -c "import math; print(math.ceil($hours * 3600 / 288.5))")
list=$(mktemp); for _ in $(seq "$loops"); do echo "file '$src'" >> "$list"; done
ffmpeg -nostdin -loglevel error -y -f concat -safe 0 -i "$list" -c copy -t "$(python3 -c "print($hours*3600)")" "$out"
rm -f "$list"
