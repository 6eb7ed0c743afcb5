#!/usr/bin/env bash
# Entrypoint of the deskctl desktop image: Xvnc on loopback with the VNC
# password from the set's Secret, then the desktop session, then deskgate as
# the only listener on the pod's IP. It also runs natively, outside a
# container, with the DESK_* overrides below (the end-to-end test does so).
#
#   POD_NAME         this desktop, e.g. desk-3 (downward API); picks the keys
#                    <POD_NAME> and <POD_NAME>.local in DESK_SECRET_DIR
#   DESK_SECRET_DIR  the mounted Secret (default /etc/deskctl/secret)
#   DESK_DISPLAY     X display (default :1)
#   DESK_VNC_PORT    Xvnc's RFB port on loopback (default 5900 + display)
#   DESK_GEOMETRY    initial screen size (default 1280x800)
#   DESK_RUN_DIR     private runtime files (default /tmp/deskctl-<uid>)
#   DESK_SESSION     session command (default xfce4-session when installed,
#                    else openbox-session, else openbox); run by sh -c and
#                    restarted when it exits, e.g. after logging out
#   DESKGATE         the gateway binary (default deskgate)
#
# Arguments are passed on to deskgate, which also reads DESKGATE_* variables
# (DESKGATE_TEAM_DOMAIN, DESKGATE_ACCESS_CONFIG, ...).
set -euo pipefail
umask 077

log() { echo "entrypoint: $*" >&2; }

pod="${POD_NAME:-$(hostname)}"
secret_dir="${DESK_SECRET_DIR:-/etc/deskctl/secret}"
display="${DESK_DISPLAY:-:1}"
display_num="${display#:}"
vnc_port="${DESK_VNC_PORT:-$((5900 + display_num))}"
geometry="${DESK_GEOMETRY:-1280x800}"
run_dir="${DESK_RUN_DIR:-/tmp/deskctl-$(id -u)}"
deskgate="${DESKGATE:-deskgate}"

mkdir -p "$run_dir"
chmod 700 "$run_dir"

# A fresh home volume starts from the skeleton.
if [ -n "${HOME:-}" ] && [ -d "$HOME" ] && [ -w "$HOME" ] && [ ! -e "$HOME/.profile" ]; then
	cp -rn /etc/skel/. "$HOME"/ 2>/dev/null || true
fi

# Xvnc's obfuscated password file is derived from the plain password, which
# deskgate reads itself; without a password Xvnc asks for none.
vnc_password_file="$secret_dir/$pod"
local_secret_file="$secret_dir/$pod.local"
security=(-SecurityTypes None)
gate_args=()
if [ -r "$vnc_password_file" ]; then
	vncpasswd -f <"$vnc_password_file" >"$run_dir/passwd"
	security=(-SecurityTypes VncAuth -PasswordFile "$run_dir/passwd")
	gate_args+=(--vnc-password-file "$vnc_password_file")
else
	log "no VNC password at $vnc_password_file: Xvnc requires no authentication"
fi
if [ -r "$local_secret_file" ]; then
	gate_args+=(--local-secret-file "$local_secret_file")
fi

# Xvnc listens on loopback only; deskgate is the way in. Its socket
# directory may be missing when /tmp is a fresh volume.
mkdir -p /tmp/.X11-unix 2>/dev/null || true
Xvnc "$display" -localhost -interface 127.0.0.1 -rfbport "$vnc_port" \
	-nolisten tcp -geometry "$geometry" -depth 24 -AlwaysShared \
	"${security[@]}" &
xvnc_pid=$!

# Wait for the X socket and the RFB port, giving up after 30 s.
for _ in $(seq 300); do
	if ! kill -0 "$xvnc_pid" 2>/dev/null; then
		log "Xvnc exited during start"
		exit 1
	fi
	if [ -S "/tmp/.X11-unix/X$display_num" ] &&
		(exec 3<>"/dev/tcp/127.0.0.1/$vnc_port") 2>/dev/null; then
		break
	fi
	sleep 0.1
done
log "Xvnc ready on display $display, RFB on 127.0.0.1:$vnc_port"

# The desktop session, restarted when it ends.
session="${DESK_SESSION:-}"
if [ -z "$session" ]; then
	if command -v xfce4-session >/dev/null; then
		session="xfce4-session"
		if command -v dbus-launch >/dev/null; then
			session="dbus-launch --exit-with-session xfce4-session"
		fi
	elif command -v openbox-session >/dev/null; then
		session="openbox-session"
	else
		session="openbox"
	fi
fi
(
	export DISPLAY="$display"
	while kill -0 "$xvnc_pid" 2>/dev/null; do
		sh -c "$session" || log "session exited with $?"
		sleep 2
	done
) &

# The gateway replaces this shell.
exec "$deskgate" --vnc "127.0.0.1:$vnc_port" --desktop "$pod" "${gate_args[@]}" "$@"
