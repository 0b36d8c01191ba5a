#!/usr/bin/env bash
# Install vidseek into .venv and run the main job: ingest a real clip (or a generated one), then search it.
# Uses configs/local.yaml (the real Qwen3-VL-8B-Thinking); without a GPU or cached weights it falls back to the
# tiny random model and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
clip=../shared/media/talking_concat_640x360.mp4  # the concat clip with six sentences spoken at known seconds
if [ ! -f "$clip" ]; then
  mkdir -p out && clip=out/sample.mp4
  [ -f "$clip" ] || python scripts/make_sample_clip.py "$clip"
  echo "shared media not found: using a generated clip, $clip"
fi
status=0
vidseek ingest "$clip" --index index "$@" || status=$?
vidseek search "a person walks through the room" --index index -k 5
vidseek search "is anyone in the corridor?" --index index -k 3 --kind speech   # what is said, to the second
vidseek status --index index
exit $status
