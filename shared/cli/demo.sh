#!/usr/bin/env bash
# The foundation demo that `make run` plays until the local live event exists: one viewer's
# journey through Usher's tokens and playlist rewriting, with the real `usher` binary.
#
# Usage: demo.sh PATH/TO/usher
set -euo pipefail

usher=${1:?usage: demo.sh PATH/TO/usher}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1;36m--- %s\033[0m\n' "$*"; }
# Commands are echoed with key material masked: secrets never reach a terminal or a log.
echo_cmd() { printf '\033[2m$ %s\033[0m\n' "$(sed -E 's/--key [0-9a-fA-F]+/--key <session key>/' <<<"$*")" >&2; }
show() { echo_cmd "$@"; "$@"; }
# Verification refusals exit 1 by contract; the demo shows them rather than stopping.
show_refusal() { echo_cmd "$@"; "$@" || printf '\033[2m(exit %s: refused, as it should be)\033[0m\n' "$?"; }

now=$(date +%s)
event=final-2026

step "The ticketing system and the edge share an HS256 keyring (kid -> hex secret)"
secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
printf '{"tickets-2026":"%s"}\n' "$secret" > "$work/keyring.json"
echo "keyring.json holds one key, kid tickets-2026 (its secret is never printed)"

step "The ticketing system sells a ticket for event $event, valid for 3 hours"
ticket=$(show "$usher" token mint --kind jwt --keyring "$work/keyring.json" --event "$event" \
    --audience usher --issuer tickets.example --subject viewer-8842 --max-streams 1 \
    --ttl 10800 --now "$now" --raw)
echo "ticket: ${ticket:0:48}…"

step "The edge checks the ticket on the multivariant playlist request"
show "$usher" token verify --kind jwt --keyring "$work/keyring.json" --audience usher \
    --issuer tickets.example --event "$event" --leeway 30 \
    --path "/events/$event/master.m3u8" --now "$now" "$ticket"

step "The same ticket does not open another event"
show_refusal "$usher" token verify --kind jwt --keyring "$work/keyring.json" --audience usher \
    --issuer tickets.example --event final-2027 --path "/events/final-2027/master.m3u8" \
    --now "$now" "$ticket"

step "A forged ticket (payload changed) is refused"
forged="${ticket%%.*}.$(printf '{"exp":9999999999,"ev":"%s","scope":"/*"}' "$event" | base64 -w0 | tr '+/' '-_' | tr -d '=').${ticket##*.}"
show_refusal "$usher" token verify --kind jwt --keyring "$work/keyring.json" --audience usher \
    --path "/events/$event/master.m3u8" --now "$now" "$forged"

step "The edge mints a 10-minute EdgeAuth session token for this viewer session"
session_key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
session=$(show "$usher" token mint --kind edgeauth --key "$session_key" \
    --acl "/events/$event/*" --start "$now" --ttl 600 --now "$now" --session-id s-3f9a1c2e --raw)
echo "session token: $session"

step "The origin's multivariant playlist"
cat > "$work/master.m3u8" <<EOF
#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="English",LANGUAGE="en",DEFAULT=YES,URI="audio/en/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=6000000,AVERAGE-BANDWIDTH=5000000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=50,AUDIO="aac"
1080p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=50,AUDIO="aac"
720p/index.m3u8
## a comment the rewriter keeps, like every byte that is not a URI
EOF
cat "$work/master.m3u8"

step "Rewritten for this viewer: every URI on CDN A, carrying the session token"
show "$usher" playlist rewrite --playlist-url "https://origin.example/events/$event/master.m3u8" \
    --base-url "https://cdn-a.example/" --param "__token__=$session" "$work/master.m3u8"

step "A segment request with the session token is admitted"
show "$usher" token verify --kind edgeauth --key "$session_key" \
    --path "/events/$event/720p/seg_884213370.m4s" --now "$((now + 5))" "$session"

step "The same URL copied out eleven minutes later is refused"
show_refusal "$usher" token verify --kind edgeauth --key "$session_key" \
    --path "/events/$event/720p/seg_884213370.m4s" --now "$((now + 660))" "$session"

step "And the token opens nothing outside its event"
show_refusal "$usher" token verify --kind edgeauth --key "$session_key" \
    --path "/events/other-event/720p/seg_1.m4s" --now "$((now + 5))" "$session"

printf '\nDone. Next: docs/token-format.md and docs/playlist-rewriting.md say exactly what happened.\n'
