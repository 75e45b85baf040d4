-- Prosody 0.12 configuration template for Parley's test peers.
-- test/peers/prosody.ts renders it once per instance: every placeholder below is
-- replaced, so each Prosody has its own port, data directory, pidfile and log.
-- Never point it at a shared directory or a fixed port: tap runs files in parallel.

-- Tests run as root in containers; without this Prosody tries to switch to the
-- `prosody` user, which cannot write our temporary data directory.
run_as_root = true
pidfile = "{{PIDFILE}}"
data_path = "{{DATA_DIR}}"
log = {
  { levels = { min = "{{LOG_LEVEL}}" }, to = "file", filename = "{{LOG_FILE}}" };
}

-- Loopback only, one c2s port chosen at runtime; nothing else listens.
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { {{PORT}} }
c2s_direct_tls_ports = {}
legacy_ssl_ports = {}
s2s_ports = {}
component_ports = {}
http_ports = {}
https_ports = {}

-- Plaintext on loopback: no `tls` module, PLAIN allowed (SCRAM-SHA-1 costs the
-- client over a second of CPU per login with @xmpp/client).
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"

-- presence, message, iq, offline and c2s are loaded automatically (0.12
-- modulemanager autoload list); offline keeps messages for offline users.
modules_enabled = {
  "roster";   -- jabber:iq:roster and roster pushes
  "saslauth"; -- SASL PLAIN / SCRAM
  "disco";
  "ping";     -- XEP-0199, used by clients for liveness
  "smacks";   -- XEP-0198 stream management (a core module since 0.12)
  "posix";    -- pidfile
}
-- No s2s, no HTTP, no rate limits (mod_limits is not loaded, so c2s is never
-- throttled: benchmarks push ~10k stanzas/s through one instance).
modules_disabled = { "s2s", "s2s_auth_certs", "http", "bosh", "websocket", "limits" }

-- TCP_NODELAY on client sockets. With Nagle on, a small stanza Prosody writes
-- (e.g. a stream-management <a/>) that the client has nothing to answer
-- holds the next stanza back until the client's delayed ACK, ~40 ms.
network_settings = { nagle = false }

-- Short enough that a killed client's session does not linger for 10 minutes,
-- long enough for a client to resume after a brief outage.
smacks_hibernation_time = {{SMACKS_HIBERNATION}}
-- Unacked stanzas Prosody keeps per session before it gives up on the client
-- (default 500): a client that receives ~10k msgs/s, or holds its acks until
-- its host queued the message (plugins/xmpp), needs more room.
smacks_max_queue_size = 10000

VirtualHost "{{DOMAIN}}"
-- Further virtual hosts (ProsodyOptions.extraDomains): users on them reach the
-- first host through Prosody itself, as from another domain (no s2s needed).
{{EXTRA_HOSTS}}
