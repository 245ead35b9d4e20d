#!/usr/bin/env bash
# Record Arkeo transaction vectors with a real arkeod: a single-node local chain (arkeo-transactions.md §5.3) and the
# sentinel (§5.4), loopback only. Every transaction of test/vectors-arkeod/transactions-recorded.json comes from here.
#
# Usage:   ARKEOD=/path/to/arkeod SENTINEL=/path/to/sentinel test/e2e/record-arkeod.sh OUTDIR
# Writes:  OUTDIR/transactions-recorded.json, and OUTDIR/transactions-recorded.log: every arkeod command run, with its output
#
# Needs:
#   * arkeod and sentinel built from arkeonetwork/arkeo 905bc4973dfe8de60a4e92d168f2e802f65a0998 (v1.0.17) with
#     default tags (so `arkeo` prefixes); how they were built is in test/vectors-arkeod/PROVENANCE.md, in short:
#       git -C MIRROR archive 905bc49 | tar -x -C SRC && cd SRC && GOFLAGS=-mod=mod go build -tags latest \
#         -ldflags "-X github.com/cosmos/cosmos-sdk/version.AppName=arkeo …" -o BIN/arkeod ./cmd/arkeod   (and ./cmd/sentinel)
#     Taken from $ARKEOD / $SENTINEL, else from PATH. Without arkeod this script says so and exits 0.
#   * node >= 20 with this repository's node_modules (npm ci): test/e2e/recorder.mjs uses @noble/curves,
#     @noble/hashes and cosmjs-types; jq; curl.
#   * Loopback only: as root with util-linux unshare, the whole run is in a fresh network namespace (no network but
#     its own lo); otherwise every listener is bound to 127.0.0.1 (they are anyway) on the fixed ports below, which
#     must then be free.
#   * Keys: dog, cat, fox and pig of test/vectors/shared/arkeo-claims.json (the regression harness's mnemonics,
#     arkeo-claims.md §10.1), imported with `arkeod keys add --recover` into a throw-away test keyring.
# Takes about a minute (1 s blocks). Nothing is left behind but OUTDIR: the chain lives in a temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
KEYS_JSON="$REPO/test/vectors/shared/arkeo-claims.json"

ARKEOD=${ARKEOD:-$(command -v arkeod || true)}
SENTINEL=${SENTINEL:-$(command -v sentinel || true)}
if [[ -z "$ARKEOD" || ! -x "$ARKEOD" ]]; then
  echo "skipped: arkeod not found (build it with: GOFLAGS=-mod=mod go build -tags latest -o BIN/arkeod ./cmd/arkeod in arkeonetwork/arkeo at 905bc49; see test/vectors-arkeod/PROVENANCE.md; then ARKEOD=BIN/arkeod SENTINEL=BIN/sentinel $0 OUTDIR)"
  exit 0
fi
if [[ -z "$SENTINEL" || ! -x "$SENTINEL" ]]; then
  echo "skipped: sentinel not found (build it with: GOFLAGS=-mod=mod go build -tags latest -o BIN/sentinel ./cmd/sentinel in arkeonetwork/arkeo at 905bc49; see test/vectors-arkeod/PROVENANCE.md)"
  exit 0
fi
if [[ $# -ne 1 ]]; then
  echo "usage: ARKEOD=… SENTINEL=… $0 OUTDIR" >&2
  exit 2
fi
for tool in node jq curl; do command -v $tool >/dev/null || { echo "record-arkeod: $tool is needed; install it" >&2; exit 2; }; done
[[ -d "$REPO/node_modules/@noble/curves" ]] || { echo "record-arkeod: $REPO/node_modules is missing; run npm ci in the repository" >&2; exit 2; }
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
ARKEOD=$(readlink -f "$ARKEOD")
SENTINEL=$(readlink -f "$SENTINEL")

# Loopback only: re-run this script in its own network namespace when we can (root + unshare).
if [[ -z "${RECORD_ARKEOD_NETNS:-}" && $(id -u) -eq 0 ]] && unshare -n true 2>/dev/null; then
  exec unshare -n env RECORD_ARKEOD_NETNS=1 ARKEOD="$ARKEOD" SENTINEL="$SENTINEL" bash "${BASH_SOURCE[0]}" "$OUT"
fi
NETWORK="listeners bound to 127.0.0.1 (no network namespace: not root, or no unshare)"
if [[ -n "${RECORD_ARKEOD_NETNS:-}" ]]; then
  ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null || { echo "record-arkeod: cannot bring lo up in the namespace (needs ip or ifconfig)" >&2; exit 2; }
  NETWORK="own network namespace (unshare -n, loopback only)"
fi

CHAIN=arkeo-local-1
RPC_PORT=36657 P2P_PORT=36656 ABCI_PORT=36658 API_PORT=31317 GRPC_PORT=39090 SENTINEL_PORT=33636 MOCK_PORT=38000
RPC=http://127.0.0.1:$RPC_PORT API=http://127.0.0.1:$API_PORT
MIN_GAS_PRICE=0.001uarkeo
WORK=$(mktemp -d /tmp/record-arkeod.XXXXXX)
H=$WORK/home
LOG=$OUT/transactions-recorded.log
: >"$LOG"
K=(--keyring-backend test --home "$H")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  # The sentinel catches SIGTERM and does not exit; whatever is still there after 5 s gets SIGKILL.
  for _ in $(seq 1 10); do
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && break; p=; done
    [[ -z "$p" ]] && break
    sleep 0.5
  done
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "record-arkeod: failed at line $LINENO: $BASH_COMMAND (see $LOG)" >&2' ERR
die() {
  echo "record-arkeod: $*" >&2
  echo "record-arkeod: see $LOG" >&2
  exit 1
}
say() { echo "== $*" | tee -a "$LOG" >&2; }
# Run arkeod, logging the command line and its output; stdout is returned.
A() {
  printf '$ arkeod' >>"$LOG"
  printf ' %q' "$@" >>"$LOG"
  echo >>"$LOG"
  local out rc=0
  out=$("$ARKEOD" "$@" 2>>"$LOG") || rc=$?
  printf '%s\n' "$out" >>"$LOG"
  [[ $rc -eq 0 ]] || return $rc
  printf '%s' "$out"
}
# The last JSON object line of arkeod's output (it may print warnings before it).
last_json() { grep '^{' | tail -n 1; }

key() { jq -r --arg k "$1" --arg f "$2" '.keys[$k][$f]' "$KEYS_JSON"; }
declare -A ADDR PUB BECH PRIV
for k in dog cat fox pig; do
  ADDR[$k]=$(key $k address) PUB[$k]=$(key $k pub) BECH[$k]=$(key $k bech32PubKey) PRIV[$k]=$(key $k priv)
done

# ------------------------------------------------------------------------------------------------ the chain (§5.3)
say "arkeod $("$ARKEOD" version 2>&1) at $ARKEOD; $NETWORK; work dir $WORK"
A init local --chain-id $CHAIN --default-denom uarkeo --home "$H" >/dev/null
for k in dog cat fox pig; do
  key "$k" mnemonic | A keys add "$k" --recover "${K[@]}" --output json >/dev/null
  got=$(A keys show "$k" -a "${K[@]}")
  [[ "$got" == "${ADDR[$k]}" ]] || die "key $k: arkeod derived $got from the mnemonic, the vectors say ${ADDR[$k]}"
done
# Genesis accounts in this order give account numbers dog 0, cat 1, fox 2 (pig has none: it only signs claims).
for k in dog cat fox; do A genesis add-genesis-account "$k" 1000000000000000uarkeo "${K[@]}" >/dev/null; done
A genesis gentx dog 500000000000000uarkeo --chain-id $CHAIN "${K[@]}" >/dev/null
A genesis collect-gentxs --home "$H" >/dev/null
A genesis validate-genesis --home "$H" >/dev/null

# toml_set FILE SECTION KEY VALUE ("" as SECTION: before the first section)
toml_set() {
  local f=$1 section=$2 k=$3 v=$4
  awk -v s="$section" -v k="$k" -v v="$v" '
    /^\[/ { cur = substr($0, 2, length($0) - 2) }
    cur == s && $0 ~ "^" k " *=" { print k " = " v; done = 1; next }
    { print }
    END { if (!done) exit 3 }' "$f" >"$f.new" || die "$f: no key $k in [$section]"
  mv "$f.new" "$f"
}
C=$H/config
toml_set $C/config.toml "" proxy_app "\"tcp://127.0.0.1:$ABCI_PORT\""
toml_set $C/config.toml rpc laddr "\"tcp://127.0.0.1:$RPC_PORT\""
toml_set $C/config.toml rpc pprof_laddr '""'
toml_set $C/config.toml p2p laddr "\"tcp://127.0.0.1:$P2P_PORT\""
toml_set $C/config.toml consensus timeout_commit '"1s"'
toml_set $C/app.toml "" minimum-gas-prices "\"$MIN_GAS_PRICE\""
toml_set $C/app.toml api enable true
toml_set $C/app.toml api address "\"tcp://127.0.0.1:$API_PORT\""
toml_set $C/app.toml grpc address "\"127.0.0.1:$GRPC_PORT\""
toml_set $C/client.toml "" chain-id "\"$CHAIN\""
toml_set $C/client.toml "" keyring-backend '"test"'
toml_set $C/client.toml "" node "\"tcp://127.0.0.1:$RPC_PORT\""

say "starting the chain"
"$ARKEOD" start --home "$H" >"$WORK/node.log" 2>&1 &
PIDS+=($!)
height() { curl -sf "$RPC/status" | jq -r '.result.sync_info.latest_block_height' 2>/dev/null || echo 0; }
for _ in $(seq 1 120); do
  [[ $(height) -ge 2 ]] && curl -sf "$API/cosmos/auth/v1beta1/params" >/dev/null && break
  sleep 1
done
[[ $(height) -ge 2 ]] || { tail -n 30 "$WORK/node.log" >>"$LOG"; die "the chain did not start"; }

account() { curl -sf "$API/cosmos/auth/v1beta1/accounts/${ADDR[$1]}" | jq -r ".account.$2"; }
# tx_result HASH: CometBFT's /tx for a hash, once it is in a block (30 s at most).
tx_result() {
  local r
  for _ in $(seq 1 60); do
    r=$(curl -s "$RPC/tx?hash=0x$1")
    if jq -e '.result.tx' <<<"$r" >/dev/null 2>&1; then printf '%s' "$r"; return 0; fi
    sleep 0.5
  done
  die "tx $1 not in a block after 30 s"
}
block_of() { jq -c '.result | {height, code: .tx_result.code, codespace: .tx_result.codespace, gasWanted: .tx_result.gas_wanted, gasUsed: .tx_result.gas_used, rawLog: .tx_result.log, events: .tx_result.events}' <<<"$1"; }

VECTORS=$WORK/vectors.jsonl NEGATIVES=$WORK/negatives.jsonl
: >"$VECTORS"
: >"$NEGATIVES"

# emit ID NAME PATH SIGNER ACCOUNT_NUMBER SEQUENCE FEE_JSON MEMO TIMEOUT MESSAGE_JSON CLI TX_BASE64 TXHASH BLOCK_JSON [EXTRA_JSON]
# One vector: what was asked of arkeod, and what it produced. The envelope read back from the bytes must be what
# was asked (sequence, memo, timeout height, fee, public key, SIGN_MODE_DIRECT), or the run stops.
emit() {
  local id=$1 name=$2 path=$3 signer=$4 acc=$5 seq=$6 fee=$7 memo=$8 timeout=$9 msg=${10} cli=${11} b64=${12} hash=${13} block=${14} extra=${15:-'{}'}
  local d
  d=$(node "$HERE/recorder.mjs" describe "$b64" $CHAIN "$acc" $hash) || die "$id: the recorded transaction does not check out"
  jq -e --arg seq "$seq" --arg memo "$memo" --arg timeout "$timeout" --argjson fee "$fee" --arg pub "${PUB[$signer]}" --arg url "$(jq -r .typeUrl <<<"$msg")" \
    '.decoded | .sequence == $seq and .memo == $memo and .timeoutHeight == $timeout and .fee == $fee and .publicKey == $pub and .signMode == 1 and .messageTypeUrls == [$url]' \
    <<<"$d" >/dev/null || die "$id: the bytes arkeod wrote do not carry what was asked: $(jq -c .decoded <<<"$d")"
  jq -nc --arg id "$id" --arg name "$name" --arg path "$path" --arg signer "$signer" --arg acc "$acc" --arg seq "$seq" --argjson fee "$fee" \
    --arg memo "$memo" --arg timeout "$timeout" --argjson msg "$msg" --arg cli "$cli" --argjson d "$d" --argjson block "$block" --argjson extra "$extra" --arg chain $CHAIN \
    '{id: $id, name: $name, path: $path, signer: $signer, accountNumber: $acc, sequence: $seq, chainId: $chain, fee: $fee, memo: $memo, timeoutHeight: $timeout,
      message: $msg, arkeodCommand: $cli, txRawBase64: $d.txRawBase64, txHash: $d.txHash, bodyBytesHex: $d.bodyBytesHex, authInfoBytesHex: $d.authInfoBytesHex,
      signDocHex: $d.signDocHex, signature: $d.signature} + (if $block == null then {} else {block: $block} end) + $extra' >>"$VECTORS"
  say "vector $id: $(jq -r .txHash <<<"$d")"
}
fee_json() { jq -nc --arg a "$1" --arg g "${2:-200000}" '{amount: [{denom: "uarkeo", amount: $a}], gasLimit: $g}'; }
# The command line as run, the throw-away paths shown as HOME and bare file names.
cmdline() {
  local c
  c="arkeod$(printf ' %q' "$@")"
  c=${c//$H/HOME}
  printf '%s' "${c//$WORK\//}"
}

# broadcast ID NAME SIGNER MESSAGE_JSON EXTRA_JSON -- ARKEOD_TX_ARGS… : arkeod builds, signs and broadcasts (the CLI path,
# no JSON round trip); the bytes are those the block holds (GET /tx?hash= → result.tx), with the block's result.
broadcast() {
  local id=$1 name=$2 signer=$3 msg=$4 extra=$5
  shift 6
  local acc seq out hash r
  acc=$(account "$signer" account_number) seq=$(account "$signer" sequence)
  local args=(tx "$@" --from "$signer" --fees 200uarkeo --chain-id $CHAIN "${K[@]}" -y -o json)
  out=$(A "${args[@]}" | last_json) || die "$id: arkeod refused: $(tail -n 3 "$LOG")"
  [[ $(jq -r .code <<<"$out") == 0 ]] || die "$id: CheckTx failed: $(jq -c '{code, raw_log}' <<<"$out")"
  hash=$(jq -r .txhash <<<"$out")
  r=$(tx_result "$hash")
  [[ $(jq -r .result.tx_result.code <<<"$r") == 0 ]] || die "$id: failed in the block: $(jq -r .result.tx_result.log <<<"$r")"
  LAST_BLOCK=$(block_of "$r")
  emit "$id" "$name" broadcast "$signer" "$acc" "$seq" "$(fee_json 200)" "" 0 "$msg" "$(cmdline "${args[@]}")" "$(jq -r .result.tx <<<"$r")" "$hash" "$LAST_BLOCK" "$extra"
}

# offline ID SIGNER ACCOUNT_NUMBER SEQUENCE -- ARKEOD_TX_ARGS… : the generate → sign --offline → encode path (§5.2).
# Leaves the base64 TxRaw in $LAST_B64 and the three command lines in $LAST_CLI.
offline() {
  local id=$1 signer=$2 acc=$3 seq=$4
  shift 5
  local gen=(tx "$@" --generate-only --chain-id $CHAIN "${K[@]}" -o json)
  local sign=(tx sign "$WORK/$id.unsigned.json" --from "$signer" --offline -a "$acc" -s "$seq" --chain-id $CHAIN --sign-mode direct "${K[@]}" -o json)
  local enc=(tx encode "$WORK/$id.signed.json")
  A "${gen[@]}" | last_json >"$WORK/$id.unsigned.json" || die "$id: generate failed"
  A "${sign[@]}" | last_json >"$WORK/$id.signed.json" || die "$id: sign failed"
  LAST_B64=$(A "${enc[@]}") || die "$id: encode failed"
  LAST_CLI="$(cmdline "${gen[@]}") > unsigned.json && $(cmdline "${sign[@]}") > signed.json && $(cmdline "${enc[@]}")"
  LAST_CLI=${LAST_CLI//$id./}
}
# rpc_broadcast BASE64 → CometBFT broadcast_tx_sync result {code, log, hash, codespace}
rpc_broadcast() { curl -s "$RPC/broadcast_tx_sync?tx=0x$(base64 -d <<<"$1" | od -An -v -tx1 | tr -d ' \n')" | jq -c '.result // .error'; }

send_msg() { # FROM TO AMOUNT_JSON
  jq -nc --arg f "${ADDR[$1]}" --arg t "${ADDR[$2]}" --argjson a "$3" '{typeUrl: "/cosmos.bank.v1beta1.MsgSend", fromAddress: $f, toAddress: $t, amount: $a}'
}
coins() { jq -nc '[$ARGS.positional | _nwise(2) | {denom: .[0], amount: .[1]}]' --args "$@"; }
open_msg() { # CLIENT_KEY TYPE DURATION RATE DEPOSIT SD AUTH QPM [DELEGATE_KEY]
  jq -nc --arg creator "${ADDR[$1]}" --arg provider "${BECH[fox]}" --arg client "${BECH[$1]}" --argjson type "$2" --arg duration "$3" --arg rate "$4" \
    --arg deposit "$5" --arg sd "$6" --argjson auth "$7" --arg qpm "$8" --arg delegate "${9:+${BECH[$9]}}" --arg delegateKey "${9:-}" --arg clientKey "$1" \
    '{typeUrl: "/arkeo.arkeo.MsgOpenContract", creator: $creator, provider: $provider, service: "mock", client: $client}
     + (if $delegate == "" then {} else {delegate: $delegate} end)
     + {contractType: $type, duration: $duration, rate: {denom: "uarkeo", amount: $rate}, deposit: $deposit, settlementDuration: $sd,
        authorization: $auth, queriesPerMinute: $qpm, keys: ({provider: "fox", client: $clientKey} + (if $delegateKey == "" then {} else {delegate: $delegateKey} end))}'
}
close_msg() { # CLIENT_KEY CONTRACT_ID [DELEGATE_KEY]
  jq -nc --arg creator "${ADDR[$1]}" --arg id "$2" --arg client "${BECH[$1]}" --arg delegate "${3:+${BECH[$3]}}" --arg delegateKey "${3:-}" --arg clientKey "$1" \
    '{typeUrl: "/arkeo.arkeo.MsgCloseContract", creator: $creator, contractId: $id, client: $client}
     + (if $delegate == "" then {} else {delegate: $delegate} end)
     + {keys: ({client: $clientKey} + (if $delegateKey == "" then {} else {delegate: $delegateKey} end))}'
}
claim_msg() { # CREATOR_KEY CONTRACT_ID NONCE SIG_HEX SIGNED_BY PREIMAGE
  jq -nc --arg creator "${ADDR[$1]}" --arg id "$2" --arg nonce "$3" --arg sig "$4" --arg by "$5" --arg pre "$6" \
    '{typeUrl: "/arkeo.arkeo.MsgClaimContractIncome", creator: $creator, contractId: $id, nonce: $nonce, signature: $sig,
      claim: {signedBy: $by, preimage: $pre, how: "ECDSA over SHA-256(preimage), RFC 6979, low-S: @noble/curves (test/e2e/recorder.mjs claim-sig)"}}'
}
claim_sig() { node "$HERE/recorder.mjs" claim-sig "${PRIV[$1]}" "$2"; }
contract() { curl -sf "$API/arkeo/contract/$1" | jq -c .contract; }

# ------------------------------------------------------------------------------------------------ fox: provider of mock
FOX=${BECH[fox]}
say "bonding fox as provider of mock"
for args in "bond-provider $FOX mock 100000000" "mod-provider $FOX mock http://127.0.0.1:3636/metadata.json 1 1 5 432000 10uarkeo 10uarkeo 10"; do
  # shellcheck disable=SC2086
  out=$(A tx arkeo $args --from fox --fees 200uarkeo --chain-id $CHAIN "${K[@]}" -y -o json | last_json) || die "provider setup failed"
  [[ $(jq -r .code <<<"$out") == 0 ]] || die "provider setup: $(jq -c '{code, raw_log}' <<<"$out")"
  r=$(tx_result "$(jq -r .txhash <<<"$out")")
  [[ $(jq -r .result.tx_result.code <<<"$r") == 0 ]] || die "provider setup failed in the block: $(jq -r .result.tx_result.log <<<"$r")"
done

# ------------------------------------------------------------------------------------------------ MsgOpenContract (broadcast only)
say "MsgOpenContract"
# cat's first transaction (sequence 0): the same transaction as anchor V1 of transactions.json.
broadcast open-payg-strict "MsgOpenContract PAYG, STRICT, no delegate (cat's first tx: anchor V1 again)" cat \
  "$(open_msg cat 1 100 10 1000 10 0 10)" '{}' -- arkeo open-contract "$FOX" mock "${BECH[cat]}" 1 1000 100 10uarkeo 10 10
OPEN1=$(jq -r '.events[] | select(.type == "arkeo.arkeo.EventOpenContract") | .attributes[] | select(.key == "contract_id") | .value' <<<"$LAST_BLOCK" | tr -d '"')
[[ "$OPEN1" == 1 ]] || die "the first contract has id '$OPEN1', expected 1"
# generate → sign → encode at cat's real sequence (1: the same transaction as anchor V3), then broadcast unchanged
# (CometBFT broadcast_tx_sync); the block holds those bytes.
SEQ=$(account cat sequence)
offline send-broadcast cat 1 "$SEQ" -- bank send cat "${ADDR[fox]}" 1234uarkeo --fees 200uarkeo
res=$(rpc_broadcast "$LAST_B64")
[[ $(jq -r .code <<<"$res") == 0 ]] || die "send-broadcast: CheckTx: $res"
r=$(tx_result "$(jq -r .hash <<<"$res")")
[[ $(jq -r .result.tx <<<"$r") == "$LAST_B64" ]] || die "send-broadcast: the block holds other bytes than were broadcast"
[[ $(jq -r .result.tx_result.code <<<"$r") == 0 ]] || die "send-broadcast: failed in the block: $(jq -r .result.tx_result.log <<<"$r")"
emit send-broadcast "MsgSend cat → fox 1234uarkeo, generate/sign/encode at cat's sequence, then broadcast (broadcast_tx_sync)" generate-sign-encode+broadcast cat 1 "$SEQ" "$(fee_json 200)" "" 0 \
  "$(send_msg cat fox "$(coins uarkeo 1234)")" "$LAST_CLI && curl \"$RPC/broadcast_tx_sync?tx=0x<hex of it>\"" "$LAST_B64" "$(jq -r .hash <<<"$res")" "$(block_of "$r")"

broadcast open-payg-delegate "MsgOpenContract PAYG, STRICT, delegate pig" cat \
  "$(open_msg cat 1 100 10 2000 10 0 10 pig)" '{}' -- arkeo open-contract "$FOX" mock "${BECH[cat]}" 1 2000 100 10uarkeo 10 10 0 "${BECH[pig]}"
broadcast open-subscription "MsgOpenContract SUBSCRIPTION, STRICT (deposit = rate 10 × duration 100 × qpm 10; dog: account number 0)" dog \
  "$(open_msg dog 0 100 10 10000 10 0 10)" '{}' -- arkeo open-contract "$FOX" mock "${BECH[dog]}" 0 10000 100 10uarkeo 10 10 0

# ------------------------------------------------------------------------------------------------ MsgClaimContractIncome
say "MsgClaimContractIncome"
SIG15=$(claim_sig cat "1:5:")
# The real sentinel takes the same signature in arkauth (its preimage has no chain id; §5.4), before the chain does.
cat >"$WORK/sentinel.yaml" <<EOF
services:
  - name: mock
    id: 1
    type: mock
    rpc_url: "http://127.0.0.1:$MOCK_PORT"
  - name: arkeo-mainnet-fullnode
    id: 2
    type: arkeo
    rpc_url: "http://127.0.0.1:$API_PORT"
EOF
node -e "require('http').createServer((q, s) => s.end('{\"mock\":true}')).listen($MOCK_PORT, '127.0.0.1')" &
PIDS+=($!)
env PORT=$SENTINEL_PORT PROVIDER_HUB_URI=$API EVENT_STREAM_HOST=127.0.0.1:$RPC_PORT PROVIDER_PUBKEY="$FOX" FREE_RATE_LIMIT=10 SOURCE_CHAIN=$CHAIN \
  CLAIM_STORE_LOCATION="$WORK/sentinel-claims" CONTRACT_CONFIG_STORE_LOCATION="$WORK/sentinel-contracts" PROVIDER_CONFIG_STORE_LOCATION="$WORK/sentinel-provider" \
  "$SENTINEL" --config "$WORK/sentinel.yaml" >"$WORK/sentinel.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 60); do curl -s "http://127.0.0.1:$SENTINEL_PORT/metadata.json" >/dev/null && break; sleep 0.5; done
status=$(curl -s -o "$WORK/sentinel-answer" -w '%{http_code}' "http://127.0.0.1:$SENTINEL_PORT/mock/status?arkauth=1:5:$SIG15")
stored=$(curl -s "http://127.0.0.1:$SENTINEL_PORT/claims?contract_id=1" | jq -c --arg s "$SIG15" '[.claims[]? | select(.nonce == 5 and .signature == $s)] | length')
{ echo "sentinel: GET /mock/status?arkauth=1:5:<sig> -> $status $(head -c 300 "$WORK/sentinel-answer")"; echo "sentinel: /claims has it: $stored"; tail -n 20 "$WORK/sentinel.log"; } >>"$LOG"
[[ "$status" == 200 && "$stored" == 1 ]] || die "the sentinel did not take the claim 1:5 (HTTP $status, stored $stored)"
SENTINEL_NOTE=$(jq -nc --arg s "$status" '{sentinel: {request: "GET /mock/status?arkauth=1:5:<signature>", status: ($s | tonumber), claimStored: true}}')

# fox's sequence 2, contract 1, nonce 5, cat over "1:5:": the same transaction as anchor V2.
broadcast claim-provider-pre0 "MsgClaimContractIncome by the provider (fox), cat's signature over \"1:5:\" (anchor V2 again)" fox \
  "$(claim_msg fox 1 5 "$SIG15" cat "1:5:")" "$SENTINEL_NOTE" -- arkeo claim-contract-income 1 5 "$SIG15" x
SIG16=$(claim_sig cat "1:6:$CHAIN")
broadcast claim-third-party-prechain "MsgClaimContractIncome by a third party (dog), cat's signature over \"1:6:$CHAIN\"" dog \
  "$(claim_msg dog 1 6 "$SIG16" cat "1:6:$CHAIN")" '{}' -- arkeo claim-contract-income 1 6 "$SIG16" x
SIG23=$(claim_sig pig "2:3:")
broadcast claim-provider-delegate "MsgClaimContractIncome by the provider (fox) for contract 2, the delegate pig's signature over \"2:3:\"" fox \
  "$(claim_msg fox 2 3 "$SIG23" pig "2:3:")" '{}' -- arkeo claim-contract-income 2 3 "$SIG23" x
SIG24=$(claim_sig pig "2:4:$CHAIN")
broadcast claim-third-party-delegate "MsgClaimContractIncome by a third party (dog) for contract 2, pig's signature over \"2:4:$CHAIN\"" dog \
  "$(claim_msg dog 2 4 "$SIG24" pig "2:4:$CHAIN")" '{}' -- arkeo claim-contract-income 2 4 "$SIG24" x
for v in claim-provider-pre0 claim-third-party-prechain claim-provider-delegate claim-third-party-delegate; do
  paid=$(jq -r --arg v "$v" 'select(.id == $v) | [.block.events[] | select(.type == "arkeo.arkeo.EventSettleContract") | .attributes[] | select(.key == "paid") | .value | fromjson] | first' "$VECTORS")
  [[ "$paid" =~ ^[1-9][0-9]*$ ]] || die "$v: the claim paid '$paid', not a positive amount"
done

# ------------------------------------------------------------------------------------------------ MsgCloseContract
say "MsgCloseContract"
broadcast close-no-delegate "MsgCloseContract of dog's subscription (contract 3), no delegate field" dog \
  "$(close_msg dog 3)" '{}' -- arkeo close-contract 3 "${BECH[dog]}"
broadcast close-with-delegate "MsgCloseContract of cat's PAYG contract 2 naming its delegate pig (field 4)" cat \
  "$(close_msg cat 2 pig)" '{}' -- arkeo close-contract 2 "${BECH[cat]}" "${BECH[pig]}"
# dog's subscription is closed, so dog may open another: an OPEN one.
broadcast open-subscription-open "MsgOpenContract SUBSCRIPTION, OPEN authorization (dog)" dog \
  "$(open_msg dog 0 50 10 5000 10 1 10)" '{}' -- arkeo open-contract "$FOX" mock "${BECH[dog]}" 0 5000 50 10uarkeo 10 10 1

# ------------------------------------------------------------------------------------------------ MsgSend
say "MsgSend"
# generate → sign → encode (no chain needed for these; signed offline with the account number and sequence given)
offline send-plain cat 1 7 -- \
  bank send cat "${ADDR[fox]}" 1234uarkeo --fees 200uarkeo
emit send-plain "MsgSend cat → fox 1234uarkeo" generate-sign-encode cat 1 7 "$(fee_json 200)" "" 0 "$(send_msg cat fox "$(coins uarkeo 1234)")" "$LAST_CLI" "$LAST_B64" "" null
MEMO='arkeo-signer vector: a memo, with UTF-8 (é, ✓)'
offline send-note cat 1 7 -- bank send cat "${ADDR[fox]}" 1234uarkeo --fees 200uarkeo --note "$MEMO"
emit send-note "MsgSend with --note (memo, TxBody field 2)" generate-sign-encode cat 1 7 "$(fee_json 200)" "$MEMO" 0 "$(send_msg cat fox "$(coins uarkeo 1234)")" "$LAST_CLI" "$LAST_B64" "" null
offline send-timeout cat 1 7 -- bank send cat "${ADDR[fox]}" 1234uarkeo --fees 200uarkeo --timeout-height 987654321
emit send-timeout "MsgSend with --timeout-height 987654321 (TxBody field 3)" generate-sign-encode cat 1 7 "$(fee_json 200)" "" 987654321 "$(send_msg cat fox "$(coins uarkeo 1234)")" "$LAST_CLI" "$LAST_B64" "" null
# fee = ceil(0.0015 × 123457) = ceil(185.1855) = 186
offline send-gas-prices cat 1 7 -- bank send cat "${ADDR[fox]}" 1234uarkeo --gas-prices 0.0015uarkeo --gas 123457
emit send-gas-prices "MsgSend with --gas-prices 0.0015uarkeo --gas 123457 (fee = ceil(price × gas) = 186)" generate-sign-encode cat 1 7 "$(fee_json 186 123457)" "" 0 \
  "$(send_msg cat fox "$(coins uarkeo 1234)")" "$LAST_CLI" "$LAST_B64" "" null '{"gasPrices": "0.0015uarkeo"}'
# Given out of order; the SDK sorts the coins by denom (ParseCoinsNormalized), and the wire carries them sorted.
offline send-multi-coin cat 1 7 -- bank send cat "${ADDR[fox]}" 7uzeta,5uarkeo,3ubtc --fees 200uarkeo
emit send-multi-coin "MsgSend of three coins, given as 7uzeta,5uarkeo,3ubtc (sent sorted by denom)" generate-sign-encode cat 1 7 "$(fee_json 200)" "" 0 \
  "$(send_msg cat fox "$(coins uarkeo 5 ubtc 3 uzeta 7)")" "$LAST_CLI" "$LAST_B64" "" null '{"amountArgument": "7uzeta,5uarkeo,3ubtc"}'
offline send-dog dog 0 9 -- bank send dog "${ADDR[cat]}" 1234uarkeo --fees 200uarkeo
emit send-dog "MsgSend dog → cat, dog = account number 0 (SignDoc field 4 absent)" generate-sign-encode dog 0 9 "$(fee_json 200)" "" 0 \
  "$(send_msg dog cat "$(coins uarkeo 1234)")" "$LAST_CLI" "$LAST_B64" "" null
offline send-sequence-0 fox 2 0 -- bank send fox "${ADDR[cat]}" 1234uarkeo --fees 200uarkeo
emit send-sequence-0 "MsgSend fox → cat at sequence 0 (SignerInfo field 3 absent)" generate-sign-encode fox 2 0 "$(fee_json 200)" "" 0 \
  "$(send_msg fox cat "$(coins uarkeo 1234)")" "$LAST_CLI" "$LAST_B64" "" null
# ------------------------------------------------------------------------------------------------ negatives (documentation)
say "negatives"
negative() { # ID NAME PHASE EXPECTED_CODE RESULT_JSON({code, codespace, log}) CLI
  local code
  code=$(jq -r .code <<<"$5")
  [[ "$code" == "$4" ]] || die "negative $1: expected code $4, got $(jq -c . <<<"$5")"
  jq -nc --arg id "$1" --arg name "$2" --arg phase "$3" --argjson r "$5" --arg cli "$6" \
    '{id: $id, name: $name, phase: $phase, code: $r.code, codespace: $r.codespace, rawLog: $r.log, arkeodCommand: $cli}' >>"$NEGATIVES"
  say "negative $1: code $code"
}
SEQ=$(account cat sequence)
offline neg-sequence cat 1 $((SEQ + 3)) -- bank send cat "${ADDR[fox]}" 1uarkeo --fees 200uarkeo
negative wrong-sequence "MsgSend signed at sequence $((SEQ + 3)) while the account is at $SEQ" CheckTx 32 "$(rpc_broadcast "$LAST_B64")" "$LAST_CLI"
offline neg-chain cat 1 "$SEQ" -- bank send cat "${ADDR[fox]}" 1uarkeo --fees 200uarkeo
# Signed for another chain id: re-sign the same unsigned tx with --chain-id wrong-chain.
A tx sign "$WORK/neg-chain.unsigned.json" --from cat --offline -a 1 -s "$SEQ" --chain-id wrong-chain --sign-mode direct "${K[@]}" -o json | last_json >"$WORK/neg-chain2.json"
negative wrong-chain-id "MsgSend signed with --chain-id wrong-chain" CheckTx 4 "$(rpc_broadcast "$(A tx encode "$WORK/neg-chain2.json")")" \
  "arkeod tx sign unsigned.json --from cat --offline -a 1 -s $SEQ --chain-id wrong-chain --sign-mode direct … && arkeod tx encode …"
offline neg-fee cat 1 "$SEQ" -- bank send cat "${ADDR[fox]}" 1uarkeo --fees 1uarkeo
negative low-fee "MsgSend with --fees 1uarkeo at gas 200000 (minimum gas price $MIN_GAS_PRICE: 200uarkeo)" CheckTx 13 "$(rpc_broadcast "$LAST_B64")" "$LAST_CLI"
# Contract 1 has settled nonce 6: nonce 5 again passes CheckTx and fails in the block (the fee is charged).
out=$(A tx arkeo claim-contract-income 1 5 "$SIG15" x --from fox --fees 200uarkeo --chain-id $CHAIN "${K[@]}" -y -o json | last_json)
r=$(tx_result "$(jq -r .txhash <<<"$out")")
negative replayed-claim "MsgClaimContractIncome for contract 1, nonce 5 again, after nonce 6 settled" block 23 "$(jq -c '.result.tx_result | {code, codespace, log}' <<<"$r")" \
  "arkeod tx arkeo claim-contract-income 1 5 <cat's signature over 1:5:> x --from fox --fees 200uarkeo -y"

# ------------------------------------------------------------------------------------------------ the file
say "writing $OUT/transactions-recorded.json"
GO_VERSION=$("$ARKEOD" version --long 2>&1 | sed -n 's/^go: //p')
jq -n --slurpfile v "$VECTORS" --slurpfile n "$NEGATIVES" --arg date "$(date -u +%FT%TZ)" --arg version "$("$ARKEOD" version 2>&1)" \
  --arg commit "$("$ARKEOD" version --long 2>&1 | sed -n 's/^commit: //p')" --arg go "$GO_VERSION" --arg chain $CHAIN --arg network "$NETWORK" \
  --arg mgp "$MIN_GAS_PRICE" --slurpfile keys "$KEYS_JSON" \
  '{
    description: "Transactions a real arkeod built and signed (SIGN_MODE_DIRECT) and, for the broadcast ones, a real single-node chain included. Made by test/e2e/record-arkeod.sh; provenance in PROVENANCE.md. test/tx/recorded-vectors.test.ts rebuilds every vector from its fields with src/tx and compares bytes.",
    recorded: {date: $date, arkeodVersion: $version, arkeodCommit: $commit, go: $go, chainId: $chain, minimumGasPrices: $mgp, network: $network},
    fields: {
      id: "stable name of the vector",
      path: "broadcast: arkeod tx … --from KEY -y (the CLI builds, signs and broadcasts; the bytes are the block'"'"'s, CometBFT GET /tx?hash=0x… → result.tx); generate-sign-encode: arkeod tx … --generate-only → tx sign --offline -a -s --sign-mode direct → tx encode (no chain involved); generate-sign-encode+broadcast: that, then broadcast unchanged",
      signer: "key name in test/vectors/shared/arkeo-claims.json (its private key signs)",
      "accountNumber, sequence": "as signed (broadcast: read from /cosmos/auth/v1beta1/accounts before; offline: given with -a/-s); decimal strings",
      fee: "amount (Coin list) and gasLimit, as in AuthInfo.fee",
      "memo, timeoutHeight": "TxBody fields 2 and 3 (\"\" and \"0\": absent)",
      message: "the one message: typeUrl and its fields, named as in src/tx/messages.ts (int64/uint64 as decimal strings, pubkeys as bech32 arkeopub1… strings, signature as hex); keys: which named keys the pubkeys belong to; claim: who made the claim signature and over what",
      arkeodCommand: "the arkeod command line that produced it (HOME: the throw-away home)",
      txRawBase64: "the TxRaw as arkeod wrote it (observed)",
      txHash: "UPPER_HEX(SHA-256(TxRaw)); for broadcast vectors the chain reported the same hash (checked when recording)",
      "bodyBytesHex, authInfoBytesHex, signature": "the TxRaw'"'"'s three fields (observed)",
      signDocHex: "RECOMPUTED, not printed by arkeod: SignDoc{body_bytes, auth_info_bytes, chain_id, account_number} written field by field by test/e2e/recorder.mjs; arkeod'"'"'s signature verifies over its SHA-256 with the signer'"'"'s public key (checked when recording)",
      block: "broadcast vectors: height, code, codespace, gasWanted, gasUsed, rawLog and events of the block result (CometBFT /tx)",
      negatives: "transactions the chain refused, with the exact code and raw_log (documentation; not rebuilt by the tests)"
    },
    chainId: $chain,
    keys: ($keys[0].keys | with_entries(select(.key == "dog" or .key == "cat" or .key == "fox" or .key == "pig") | .value |= {address, publicKey: .pub, bech32PubKey})),
    accountNumbers: {dog: "0", cat: "1", fox: "2"},
    vectors: $v,
    negatives: $n
  }' >"$OUT/transactions-recorded.json"
say "done: $(jq '.vectors | length' "$OUT/transactions-recorded.json") vectors, $(jq '.negatives | length' "$OUT/transactions-recorded.json") negatives"
