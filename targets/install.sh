#!/bin/sh
# placeholder: the installer is being written
RELAY_URL=${RELAY_URL:-__RELAY_URL__}
echo "install.sh for $RELAY_URL is not available yet" >&2
exit 1
