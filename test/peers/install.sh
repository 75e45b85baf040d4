#!/bin/sh
# Installs the real peers Parley's integration tests start (see test/peers/*.ts).
# Idempotent: does nothing when every peer is already installed.
# Prosody (XMPP) and Kamailio 5.6 with presence and TLS modules (SIP/SIMPLE
# provider clouds), plus the openssl CLI for throwaway test certificates.
set -eu

need_apt=""
command -v prosody >/dev/null 2>&1 || need_apt="$need_apt prosody"
command -v openssl >/dev/null 2>&1 || need_apt="$need_apt openssl"
for pkg in kamailio kamailio-presence-modules kamailio-tls-modules; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || need_apt="$need_apt $pkg"
done

if [ -n "$need_apt" ]; then
  echo "test/peers: installing$need_apt"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi

# The Debian package may start a system-wide Prosody on 5222; tests never use
# it (each test runs its own instance on a free port), so it can stay or go.
prosody_version=$(dpkg-query -W -f='${Version}' prosody 2>/dev/null || echo unknown)
echo "test/peers: prosody $prosody_version ready"

# Installing Kamailio starts no service here; tests run their own instance on
# other addresses and ports anyway (test/peers/kamailio.ts).
kamailio_version=$(dpkg-query -W -f='${Version}' kamailio 2>/dev/null || echo unknown)
echo "test/peers: kamailio $kamailio_version ready"
