#!/usr/bin/env bash
# make grade runs each student notebook in a Bubblewrap sandbox (tools/sandbox.py).
# Install Debian's bubblewrap where this machine can (root, apt-get); elsewhere say so
# and go on: make grade then refuses untrusted submissions with the reason.
if command -v bwrap >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's bubblewrap, the sandbox of make grade"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null 2>&1; } \
        || echo "Could not install bubblewrap: make grade will refuse untrusted submissions."
else
    echo "No bubblewrap (bwrap), and no root apt-get to install it: make grade will refuse"
    echo "untrusted submissions (see README, 'Grading a class')."
fi
exit 0
