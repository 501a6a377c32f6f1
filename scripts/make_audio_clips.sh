#!/bin/sh
# Regenerate the small speech clips under tests/data/audio/ that tests/test_audio.c reads, so
# the unit tests need no espeak-ng. Each clip is espeak-ng's own output as it is: RIFF/WAVE,
# 16-bit PCM, mono, 22050 Hz (default voice "en", speed 220 words per minute for short clips).
#   sh scripts/make_audio_clips.sh
set -eu
cd "$(dirname "$0")/.."
command -v espeak-ng >/dev/null || { echo "espeak-ng is not installed (apt-get install espeak-ng)" >&2; exit 1; }
mkdir -p tests/data/audio
for word in one two three; do
    espeak-ng -v en -s 220 -w "tests/data/audio/$word.wav" "$word"
done
ls -l tests/data/audio
