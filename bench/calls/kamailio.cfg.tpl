#!KAMAILIO
# Baseline for bench:calls: a stateful proxy between the SIPp user and the SIPp trunk, as the
# gateway is between them. Every new INVITE is challenged with 407 (pv_auth_check, which is proxy
# digest authentication for a non-REGISTER, one shared password, no database), then
# record-routed, tracked by the dialog module (so each call in progress holds state, as in the
# gateway) and relayed statefully (tm) to the trunk. In-dialog requests follow the Route set.
# No media relay, no routing table, no rating, no CDR: SIP handling alone. Loopback only.
debug=0
log_stderror=yes
fork=yes
children=__CHILDREN__
auto_aliases=no
disable_tcp=yes
listen=udp:127.0.0.1:__PORT__
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "auth.so"
loadmodule "dialog.so"
modparam("auth", "secret", "bench-nonce-secret")
modparam("rr", "enable_full_lr", 0)
modparam("dialog", "db_mode", 0)
modparam("dialog", "hash_size", 4096)

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }

  if (has_totag()) {
    # Within a dialog: ACK for 2xx and BYE carry our Record-Route.
    if (loose_route()) {
      if (!t_relay()) sl_reply_error();
      exit;
    }
    # ACK for a negative reply: absorbed by its transaction (or by sl for the 407).
    if (is_method("ACK")) {
      if (t_check_trans()) t_relay();
      exit;
    }
    sl_send_reply("404", "Not here");
    exit;
  }

  if (is_method("CANCEL")) {
    if (t_check_trans()) t_relay();
    exit;
  }
  # Retransmissions of a request already relayed are absorbed here.
  t_check_trans();

  if (!is_method("INVITE")) { sl_send_reply("405", "Method Not Allowed"); exit; }
  if (!pv_auth_check("$fd", "__PASSWORD__", "0", "1")) {
    proxy_challenge("$fd", "0");
    exit;
  }
  consume_credentials();
  record_route();
  dlg_manage();
  $du = "sip:127.0.0.1:__TRUNK_PORT__";
  if (!t_relay()) sl_reply_error();
}
