#!/bin/sh
# The retraining scheduler: queues a training run every RETRAIN_INTERVAL_S seconds, as cron
# would run `python -m annotation_backend.retrain`; the worker executes the run. A failed
# attempt is logged and the next one comes at the next interval.
set -u

interval_s="${RETRAIN_INTERVAL_S:?set RETRAIN_INTERVAL_S to the seconds between attempts}"
case "$interval_s" in
    '' | *[!0-9]* | 0)
        echo "retrain-loop: RETRAIN_INTERVAL_S must be a positive whole number, got '$interval_s'" >&2
        exit 2
        ;;
esac

# Sleep in the background and wait for it, so that a stop signal ends the wait at once; a
# retrain already running finishes first (a few seconds).
trap 'exit 0' TERM INT

while true; do
    python -m annotation_backend.retrain || echo "retrain-loop: retrain exited with $?" >&2
    sleep "$interval_s" &
    wait $!
done
