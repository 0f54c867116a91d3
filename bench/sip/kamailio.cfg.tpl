#!KAMAILIO
# Baseline registrar for bench:sip: digest authentication with one shared password
# (pv_auth_check, no database) and usrloc in memory (db_mode 0). Listens on loopback only.
debug=0
log_stderror=yes
fork=yes
children=__CHILDREN__
auto_aliases=no
listen=udp:127.0.0.1:__PORT__
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "textops.so"
modparam("usrloc", "db_mode", 0)
modparam("auth", "secret", "bench-nonce-secret")

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("REGISTER")) {
    if (!pv_auth_check("$fd", "__PASSWORD__", "0", "1")) {
      auth_challenge("$fd", "0");
      exit;
    }
    if (!save("location")) sl_reply_error();
    exit;
  }
  sl_send_reply("405", "Method Not Allowed");
}
