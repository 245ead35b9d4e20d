#!/usr/bin/env bash
# arkeo-signer against a real chain: a single-node Arkeo chain (arkeo-transactions.md §5.3) and the real sentinel
# (§5.4) in front of a small upstream, loopback only. With our commands, the client's whole round:
#   keys add (a delegate, --delegate-for cat; a fee payer for settling) → contract open (the command keys add
#   printed) → contract show/list → tx send / tx show → 100 requests paid through `arkeo-signer proxy` → a forged
#   claim written into the sentinel's claim store → settle → contract close → the final settlements → every balance
#   checked against the chain's rules.
# Settling: `arkeo-signer settle --once` from a fee payer of its own (not the provider), which must settle the
# genuine claim and refuse the forged one (bad_signature) without sending anything for it. Only when this build has
# no `settle` (or REAL_CHAIN_STAND_IN=1, to exercise this path) is the claim the sentinel holds settled with
# `arkeod tx arkeo claim-contract-income`, the stand-in, labelled as such in the transcript.
# The forgery: a second contract of cat's, with no requests paid; while the sentinel is stopped, a small Go program
# (goleveldb, the store the sentinel uses) writes into its claim store a claim for that contract with a higher nonce,
# signed by fox (the provider) instead of the contract's spender; then the sentinel is started again and lists it.
#
# Usage:   ARKEOD=/path/to/arkeod SENTINEL=/path/to/sentinel test/e2e/real-chain.sh OUTDIR
# Writes:  OUTDIR/real-chain-transcript.log (every command run, with its output) and OUTDIR/real-chain-transcript.json
#          (commands, tx hashes and TxRaws, heights, balances before and after, the computed expectation and
#          whether it matched). test/tx/real-chain-transcript.test.ts re-checks the recorded one in CI.
#
# Needs:
#   * arkeod and sentinel built from arkeonetwork/arkeo 905bc4973dfe8de60a4e92d168f2e802f65a0998 (v1.0.17), as in
#     test/vectors-arkeod/PROVENANCE.md; from $ARKEOD / $SENTINEL, else PATH. Without them this script says so and
#     exits 0.
#   * this repository built (npm ci && npm run build: dist/bin/arkeo-signer.js); node >= 20; jq; curl; go (>= 1.22)
#     with github.com/syndtr/goleveldb v1.0.1-0.20210819022825-2ae1ddf74ef7 (the version Arkeo's go.mod pins) in the
#     module cache or reachable through GOPROXY (test/e2e/local-kms-import uses the same).
#   * Loopback only: as root with util-linux unshare, the run is in a fresh network namespace (lo only); otherwise
#     every listener is bound to 127.0.0.1 on the fixed ports below, which must be free.
#   * Keys: dog, cat and fox of test/vectors/shared/arkeo-claims.json (dog validates and funds the fee payer, fox is
#     the provider of mock, cat is the client); the delegate and the fee payer are new keys made by
#     `arkeo-signer keys add`.
# Takes a little over a minute (1 s blocks). Nothing is left behind but OUTDIR: the chain and the homes live in a temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
KEYS_JSON="$REPO/test/vectors/shared/arkeo-claims.json"
CLI="$REPO/dist/bin/arkeo-signer.js"

ARKEOD=${ARKEOD:-$(command -v arkeod || true)}
SENTINEL=${SENTINEL:-$(command -v sentinel || true)}
if [[ -z "$ARKEOD" || ! -x "$ARKEOD" ]]; then
  echo "skipped: arkeod not found (build it from arkeonetwork/arkeo at 905bc49 as test/vectors-arkeod/PROVENANCE.md says; then ARKEOD=BIN/arkeod SENTINEL=BIN/sentinel $0 OUTDIR)"
  exit 0
fi
if [[ -z "$SENTINEL" || ! -x "$SENTINEL" ]]; then
  echo "skipped: sentinel not found (build it from arkeonetwork/arkeo at 905bc49 as test/vectors-arkeod/PROVENANCE.md says; then ARKEOD=BIN/arkeod SENTINEL=BIN/sentinel $0 OUTDIR)"
  exit 0
fi
if [[ $# -ne 1 ]]; then
  echo "usage: ARKEOD=… SENTINEL=… $0 OUTDIR" >&2
  exit 2
fi
for tool in node jq curl go; do command -v $tool >/dev/null || { echo "real-chain: $tool is needed; install it" >&2; exit 2; }; done
[[ -f "$CLI" ]] || { echo "real-chain: $CLI is missing; run npm ci && npm run build in the repository" >&2; exit 2; }
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
ARKEOD=$(readlink -f "$ARKEOD")
SENTINEL=$(readlink -f "$SENTINEL")

# Loopback only: re-run this script in its own network namespace when we can (root + unshare).
if [[ -z "${REAL_CHAIN_NETNS:-}" && $(id -u) -eq 0 ]] && unshare -n true 2>/dev/null; then
  exec unshare -n env REAL_CHAIN_NETNS=1 ARKEOD="$ARKEOD" SENTINEL="$SENTINEL" REAL_CHAIN_STAND_IN="${REAL_CHAIN_STAND_IN:-}" bash "${BASH_SOURCE[0]}" "$OUT"
fi
NETWORK="listeners bound to 127.0.0.1 (no network namespace: not root, or no unshare)"
if [[ -n "${REAL_CHAIN_NETNS:-}" ]]; then
  ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null || { echo "real-chain: cannot bring lo up in the namespace (needs ip or ifconfig)" >&2; exit 2; }
  NETWORK="own network namespace (unshare -n, loopback only)"
fi

CHAIN=arkeo-local-1
# Not record-arkeod.sh's ports, so that both can run at once outside a namespace.
RPC_PORT=46657 P2P_PORT=46656 ABCI_PORT=46658 API_PORT=41317 GRPC_PORT=49090 SENTINEL_PORT=43636 MOCK_PORT=48000 PROXY_PORT=48080
RPC=http://127.0.0.1:$RPC_PORT API=http://127.0.0.1:$API_PORT SENTINEL_URL=http://127.0.0.1:$SENTINEL_PORT PROXY_URL=http://127.0.0.1:$PROXY_PORT
MIN_GAS_PRICE=0.001uarkeo
# The contract: fox's rate (10uarkeo a request) and settlement duration (10 blocks) are set below by mod-provider.
RATE=10 SETTLEMENT_DURATION=10 DEPOSIT=5000 DURATION=300 QPM=600 REQUESTS=100 SEND_AMOUNT=1000
# The second contract (cat's, no delegate) and the claim forged for it: nonce 300 would take its whole deposit.
DEPOSIT2=3000 FORGED_NONCE=300
# The fee payer: funded by dog with FUND_SETTLER; settle sends only what pays the provider at least MIN_VALUE.
FUND_SETTLER=10000 MIN_VALUE=500
WORK=$(mktemp -d /tmp/real-chain.XXXXXX)
H=$WORK/home            # arkeod's home (the chain, and its test keyring for the chain's own setup)
SH=$WORK/signer-home    # arkeo-signer's home: its keyring, nonce store and transaction journal
LOG=$OUT/real-chain-transcript.log
: >"$LOG"
K=(--keyring-backend test --home "$H")
export ARKEO_HOME=$SH ARKEO_NODE=$API ARKEO_KEYRING_BACKEND=test
PIDS=()
PROXY_PID=
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
trap 'echo "real-chain: failed at line $LINENO: $BASH_COMMAND (see $LOG)" >&2' ERR
die() {
  echo "real-chain: $*" | tee -a "$LOG" >&2
  echo "real-chain: see $LOG" >&2
  exit 1
}
say() { echo "== $*" | tee -a "$LOG" >&2; }
# The throw-away paths shown as HOME (arkeod's), SIGNER_HOME (ours) and WORK.
scrub() { local s=${1//$SH/SIGNER_HOME}; s=${s//$H/HOME}; printf '%s' "${s//$WORK/WORK}"; }
height() { curl -sf "$RPC/status" | jq -r '.result.sync_info.latest_block_height' 2>/dev/null || echo 0; }

STEPS=$WORK/steps.jsonl TXS=$WORK/txs.jsonl
: >"$STEPS"
: >"$TXS"
# step ID TOOL_NAME COMMAND_TEXT EXIT STDOUT_FILE STDERR_FILE: one command in the log and in the transcript's steps.
step() {
  local id=$1 tool=$2 cmd=$3 rc=$4 so=$5 se=$6 h
  h=$(height)
  { echo "\$ $cmd"; cat "$so"; [[ -s "$se" ]] && sed 's/^/[stderr] /' "$se"; echo "[exit $rc, chain height $h]"; } | while IFS= read -r l || [[ -n "$l" ]]; do scrub "$l"; echo; done >>"$LOG"
  jq -nc --arg id "$id" --arg tool "$tool" --arg cmd "$(scrub "$cmd")" --argjson rc "$rc" --rawfile so "$so" --rawfile se "$se" --arg h "$h" \
    '{id: $id, tool: $tool, command: $cmd, exitCode: $rc, stdout: $so, stderr: $se, heightAfter: $h}' | while IFS= read -r l || [[ -n "$l" ]]; do scrub "$l"; echo; done >>"$STEPS"
}
# S ID ARGS…: run our CLI, record it; its stdout is printed. A failure is a finding: the run stops there.
S() {
  local id=$1 rc=0
  shift
  node "$CLI" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
  step "$id" arkeo-signer "arkeo-signer$(printf ' %q' "$@")" $rc "$WORK/out" "$WORK/err"
  [[ $rc -eq 0 ]] || die "FINDING: arkeo-signer $1 ${2:-} exited $rc: $(head -c 600 "$WORK/err")"
  cat "$WORK/out"
}
# S_expect ID EXIT ARGS…: run our CLI, record it, and stop the run unless it exits EXIT (a refusal we mean to show).
S_expect() {
  local id=$1 want=$2 rc=0
  shift 2
  node "$CLI" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
  step "$id" arkeo-signer "arkeo-signer$(printf ' %q' "$@")" $rc "$WORK/out" "$WORK/err"
  [[ $rc -eq $want ]] || die "FINDING: arkeo-signer $1 ${2:-} exited $rc, not $want: $(head -c 600 "$WORK/out" "$WORK/err")"
  cat "$WORK/out"
}
# A ID ARGS…: run arkeod (the chain's setup, and the settle stand-in), record it; its stdout is printed.
A() {
  local id=$1 rc=0
  shift
  "$ARKEOD" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
  # init and collect-gentxs print the whole genesis on stderr: not worth keeping.
  [[ $rc -eq 0 && -n "${A_ELIDE:-}" ]] && echo "(the genesis JSON arkeod prints here: elided)" >"$WORK/err"
  step "$id" arkeod "arkeod$(printf ' %q' "$@")" $rc "$WORK/out" "$WORK/err"
  [[ $rc -eq 0 ]] || die "arkeod $1 ${2:-} exited $rc: $(head -c 600 "$WORK/err")"
  cat "$WORK/out"
}
last_json() { grep '^{' | tail -n 1; }
key() { jq -r --arg k "$1" --arg f "$2" '.keys[$k][$f]' "$KEYS_JSON"; }
declare -A ADDR BECH
for k in dog cat fox; do ADDR[$k]=$(key $k address) BECH[$k]=$(key $k bech32PubKey); done
account_number() { curl -sf "$API/cosmos/auth/v1beta1/accounts/$1" | jq -r '.account.account_number'; }

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
# record_tx ID PHASE BY HASH: the transaction as the block holds it (its TxRaw, what its bytes say, the block's result).
record_tx() {
  local id=$1 phase=$2 by=$3 hash=$4 r b64 signer acc d
  r=$(tx_result "$hash")
  b64=$(jq -r .result.tx <<<"$r")
  # The signer's account number, for the SignDoc: the signer is read from the bytes, its number from the node.
  signer=$(cd "$REPO" && node "$HERE/real-chain.mjs" signer "$b64") || die "$id: cannot read the signer of $hash"
  acc=$(account_number "$signer")
  d=$(cd "$REPO" && node "$HERE/real-chain.mjs" tx "$b64" $CHAIN "$acc" "$hash") || die "$id: transaction $hash does not check out"
  jq -nc --arg id "$id" --arg phase "$phase" --arg by "$by" --arg b64 "$b64" --argjson d "$d" --argjson r "$r" \
    '{id: $id, phase: $phase, by: $by} + $d + {txRawBase64: $b64, height: $r.result.height, code: $r.result.tx_result.code, codespace: $r.result.tx_result.codespace,
      gasWanted: $r.result.tx_result.gas_wanted, gasUsed: $r.result.tx_result.gas_used,
      events: [$r.result.tx_result.events[] | select(.type | startswith("arkeo.")) | {type, attributes: [.attributes[] | select(.key != "msg_index") | {key, value}]}]}' >>"$TXS"
  [[ $(jq -r .result.tx_result.code <<<"$r") == 0 ]] || die "$id: $hash failed in its block: $(jq -r .result.tx_result.log <<<"$r")"
  echo "[tx $id: $hash at height $(jq -r .result.height <<<"$r"), signed by account $acc, hash = SHA-256(TxRaw), signature verified]" >>"$LOG"
}

# ------------------------------------------------------------------------------------------------ the forging tool
# forge-claim: puts one record into a LevelDB, as the sentinel keeps its claims (sentinel/claim_store.go at 905bc49:
# key = the contract id in decimal, value = the claim as JSON). Written here, not taken from Arkeo: it knows only the
# record's shape. Built before anything starts, so that a missing module stops the run early.
mkdir -p "$WORK/forge-claim"
cat >"$WORK/forge-claim/main.go" <<'GO'
// forge-claim DIR KEY VALUE: prints every record of the LevelDB at DIR, puts VALUE under KEY (synced), and prints
// what DIR holds under KEY afterwards. DIR must exist: this writes into a store, it does not make one.
package main

import (
	"fmt"
	"os"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: forge-claim DIR KEY VALUE")
		os.Exit(2)
	}
	dir, key, value := os.Args[1], os.Args[2], os.Args[3]
	db, err := leveldb.OpenFile(dir, &opt.Options{ErrorIfMissing: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "forge-claim: cannot open %s (is the sentinel still running?): %v\n", dir, err)
		os.Exit(1)
	}
	defer db.Close()
	it := db.NewIterator(nil, nil)
	for it.Next() {
		fmt.Printf("before: %s = %s\n", it.Key(), it.Value())
	}
	it.Release()
	if err := db.Put([]byte(key), []byte(value), &opt.WriteOptions{Sync: true}); err != nil {
		fmt.Fprintf(os.Stderr, "forge-claim: put %s: %v\n", key, err)
		os.Exit(1)
	}
	got, err := db.Get([]byte(key), nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "forge-claim: read back %s: %v\n", key, err)
		os.Exit(1)
	}
	fmt.Printf("after: %s = %s\n", key, got)
}
GO
printf 'module forge-claim\n\ngo 1.22\n\nrequire github.com/syndtr/goleveldb v1.0.1-0.20210819022825-2ae1ddf74ef7\n\nrequire github.com/golang/snappy v0.0.4 // indirect\n' >"$WORK/forge-claim/go.mod"
cp "$HERE/local-kms-import/go.sum" "$WORK/forge-claim/go.sum"
(cd "$WORK/forge-claim" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go build -o "$WORK/forge-claim/forge-claim" . ) >"$WORK/go-build.log" 2>&1 \
  || die "cannot build the forging tool (go build in a module needing goleveldb): $(tail -n 5 "$WORK/go-build.log")"
echo "[forge-claim built with $(go version | cut -d' ' -f3) against goleveldb v1.0.1-0.20210819022825-2ae1ddf74ef7]" >>"$LOG"

# ------------------------------------------------------------------------------------------------ the chain (§5.3)
say "arkeod $("$ARKEOD" version 2>&1) at $ARKEOD; arkeo-signer $(node "$CLI" version | head -n 1); $NETWORK"
A_ELIDE=1 A init "init" local --chain-id $CHAIN --default-denom uarkeo --home "$H" >/dev/null
for k in dog cat fox; do
  key "$k" mnemonic | "$ARKEOD" keys add "$k" --recover "${K[@]}" --output json >/dev/null 2>&1
  got=$("$ARKEOD" keys show "$k" -a "${K[@]}")
  [[ "$got" == "${ADDR[$k]}" ]] || die "key $k: arkeod derived $got from the mnemonic, the vectors say ${ADDR[$k]}"
done
echo "[arkeod keys add dog|cat|fox --recover: the addresses of test/vectors/shared/arkeo-claims.json]" >>"$LOG"
for k in dog cat fox; do A genesis-account genesis add-genesis-account "$k" 1000000000000000uarkeo "${K[@]}" >/dev/null; done
A gentx genesis gentx dog 500000000000000uarkeo --chain-id $CHAIN "${K[@]}" >/dev/null
A_ELIDE=1 A collect-gentxs genesis collect-gentxs --home "$H" >/dev/null

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
echo "[config: 1 s blocks, minimum-gas-prices $MIN_GAS_PRICE, RPC $RPC, LCD $API, all on 127.0.0.1]" >>"$LOG"

say "starting the chain"
"$ARKEOD" start --home "$H" >"$WORK/node.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 120); do
  [[ $(height) -ge 2 ]] && curl -sf "$API/cosmos/auth/v1beta1/params" >/dev/null && break
  sleep 1
done
[[ $(height) -ge 2 ]] || { tail -n 30 "$WORK/node.log" >>"$LOG"; die "the chain did not start"; }

say "bonding fox as provider of mock (setup, with arkeod: arkeo-signer has no provider commands)"
FOX=${BECH[fox]}
SETUP_HASHES=()
for args in "bond-provider $FOX mock 100000000" "mod-provider $FOX mock http://127.0.0.1:$SENTINEL_PORT/metadata.json 1 1 5 432000 ${RATE}uarkeo ${RATE}uarkeo $SETTLEMENT_DURATION"; do
  # shellcheck disable=SC2086
  out=$(A "${args%% *}" tx arkeo $args --from fox --fees 200uarkeo --chain-id $CHAIN "${K[@]}" -y -o json | last_json)
  [[ $(jq -r .code <<<"$out") == 0 ]] || die "provider setup: $(jq -c '{code, raw_log}' <<<"$out")"
  hash=$(jq -r .txhash <<<"$out")
  SETUP_HASHES+=("$hash")
  record_tx "${args%% *}" setup arkeod "$hash"
done

# ------------------------------------------------------------------------------------------------ the sentinel (§5.4) and its upstream
say "the upstream (answers 200 with a JSON body naming the request) and the sentinel"
node -e "let n = 0; require('http').createServer((q, s) => { n++; s.setHeader('content-type', 'application/json'); s.end(JSON.stringify({ upstream: 'mock', n, path: q.url })); }).listen($MOCK_PORT, '127.0.0.1')" &
PIDS+=($!)
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
CLAIM_STORE=$WORK/sentinel-claims
SENTINEL_PID=
start_sentinel() {
  env PORT=$SENTINEL_PORT PROVIDER_HUB_URI=$API EVENT_STREAM_HOST=127.0.0.1:$RPC_PORT PROVIDER_PUBKEY="$FOX" FREE_RATE_LIMIT=10 SOURCE_CHAIN=$CHAIN \
    CLAIM_STORE_LOCATION="$CLAIM_STORE" CONTRACT_CONFIG_STORE_LOCATION="$WORK/sentinel-contracts" PROVIDER_CONFIG_STORE_LOCATION="$WORK/sentinel-provider" \
    "$SENTINEL" --config "$WORK/sentinel.yaml" >>"$WORK/sentinel.log" 2>&1 &
  SENTINEL_PID=$!
  PIDS+=($SENTINEL_PID)
  for _ in $(seq 1 60); do curl -sf "$SENTINEL_URL/metadata.json" >/dev/null && return 0; sleep 0.5; done
  tail -n 30 "$WORK/sentinel.log" >>"$LOG"
  die "the sentinel did not start"
}
# stop_sentinel: it catches SIGTERM and does not exit, so SIGKILL after 5 s. Its LevelDB journal is written on every
# claim (a killed process loses nothing the kernel has), and the lock goes with the process.
stop_sentinel() {
  kill -TERM $SENTINEL_PID 2>/dev/null || true
  for _ in $(seq 1 10); do kill -0 $SENTINEL_PID 2>/dev/null || break; sleep 0.5; done
  kill -9 $SENTINEL_PID 2>/dev/null || true
  wait $SENTINEL_PID 2>/dev/null || true
}
start_sentinel
echo "[sentinel $(curl -s "$SENTINEL_URL/metadata.json" | jq -c '{version: .version, provider: .config.provider_pubkey}' 2>/dev/null) at $SENTINEL_URL, upstream http://127.0.0.1:$MOCK_PORT]" >>"$LOG"

# ------------------------------------------------------------------------------------------------ our keys
say "arkeo-signer keys: cat (the client) and dog (funds the fee payer) imported; a new delegate and a new fee payer"
for k in cat dog; do
  # The mnemonic goes in on stdin and is not recorded.
  key "$k" mnemonic | node "$CLI" keys add "$k" --recover -o json >"$WORK/out" 2>"$WORK/err" || die "FINDING: arkeo-signer keys add $k --recover failed: $(cat "$WORK/err")"
  step "import-$k" arkeo-signer "arkeo-signer keys add $k --recover -o json   # the mnemonic of test/vectors/shared/arkeo-claims.json on stdin" 0 "$WORK/out" "$WORK/err"
  [[ $(jq -r .address "$WORK/out") == "${ADDR[$k]}" ]] || die "FINDING: arkeo-signer derived $(jq -r .address "$WORK/out") for $k, the vectors say ${ADDR[$k]}"
done
# The delegate: a new key, recorded as cat's claim delegate; keys add prints the contract open command to run.
S delegate-key keys add hot --delegate-for cat --no-backup >"$WORK/delegate.txt"
OPEN_LINE=$(grep '^arkeo-signer contract open ' "$WORK/delegate.txt") || die "FINDING: keys add --delegate-for printed no 'arkeo-signer contract open' line"
HOT_ADDR=$(node "$CLI" keys show hot -a)
HOT_PUB=$(cd "$REPO" && node "$HERE/real-chain.mjs" bech32-pub "$(node "$CLI" keys show hot -p)")
grep -q -- "--delegate $HOT_PUB " <<<"$OPEN_LINE" || die "FINDING: the printed command does not name the new key $HOT_PUB as delegate: $OPEN_LINE"
echo "[delegate hot: $HOT_ADDR, $HOT_PUB]" >>"$LOG"
# The fee payer for settling: a key of its own, not the provider's (docs/guides/settle.md), funded by dog below.
S settler-key keys add settler --no-backup >/dev/null
SETTLER_ADDR=$(node "$CLI" keys show settler -a)
SETTLER_PUB=$(cd "$REPO" && node "$HERE/real-chain.mjs" bech32-pub "$(node "$CLI" keys show settler -p)")
[[ "$SETTLER_ADDR" != "${ADDR[fox]}" ]] || die "the fee payer is the provider"
echo "[fee payer settler: $SETTLER_ADDR, $SETTLER_PUB]" >>"$LOG"

# ------------------------------------------------------------------------------------------------ balances before
CONTRACTS_ADDR=$(curl -sf "$API/cosmos/auth/v1beta1/module_accounts/contracts" | jq -r '.account.base_account.address // .account.value.address')
[[ "$CONTRACTS_ADDR" == arkeo1* ]] || die "cannot read the contracts module's address"
declare -A WHO=([cat]=${ADDR[cat]} [fox]=${ADDR[fox]} [delegate]=$HOT_ADDR [settler]=$SETTLER_ADDR [contracts]=$CONTRACTS_ADDR)
# balances_at HEIGHT: uarkeo of each account at that height (x-cosmos-block-height), one JSON object.
balances_at() {
  local h=$1 name json='{}' amount
  for name in cat fox delegate settler contracts; do
    amount=$(curl -sf -H "x-cosmos-block-height: $h" "$API/cosmos/bank/v1beta1/balances/${WHO[$name]}/by_denom?denom=uarkeo" | jq -r '.balance.amount // "0"') || die "cannot read ${WHO[$name]}'s balance at $h"
    json=$(jq -c --arg n "$name" --arg a "$amount" '. + {($n): $a}' <<<"$json")
  done
  printf '%s' "$json"
}
H_BEFORE=$(height)
BEFORE=$(balances_at "$H_BEFORE")
say "balances at height $H_BEFORE: $BEFORE"

# ------------------------------------------------------------------------------------------------ contract open: the printed command
say "contract open: the command keys add printed, its variables set, with --qpm $QPM (the sentinel's paid rate limit) and -o json"
arkeo-signer() { S open-contract "$@"; }
export PROVIDER_PUBKEY=$FOX SERVICE=mock DEPOSIT DURATION
OPEN_JSON=$(eval "$OPEN_LINE --qpm $QPM -o json")
unset -f arkeo-signer
CONTRACT_ID=$(jq -r .contract_id <<<"$OPEN_JSON")
OPEN_HASH=$(jq -r .tx_hash <<<"$OPEN_JSON")
[[ "$CONTRACT_ID" =~ ^[1-9][0-9]*$ ]] || die "FINDING: contract open printed no contract id: $OPEN_JSON"
record_tx open run arkeo-signer "$OPEN_HASH"
S show-after-open contract show "$CONTRACT_ID" --node "$API" >/dev/null
SHOW_OPEN=$(S show-after-open-json contract show "$CONTRACT_ID" --node "$API" -o json)
S list contract list --key cat --node "$API" >/dev/null
LIST_JSON=$(S list-json contract list --key cat --open --node "$API" -o json)
jq -e --arg id "$CONTRACT_ID" --arg hot "$HOT_PUB" --arg rate "${RATE}uarkeo" --arg dep "$DEPOSIT" \
  'map(select(.contract_id == $id and .spender == $hot and .rate == $rate and .deposit == $dep and .open)) | length == 1' <<<"$LIST_JSON" >/dev/null \
  || die "FINDING: contract list --key cat does not show contract $CONTRACT_ID open with spender $HOT_PUB, rate ${RATE}uarkeo, deposit $DEPOSIT"

# ------------------------------------------------------------------------------------------------ the second contract
say "contract open: a second contract of cat's, without a delegate (cat is its spender): the one the forged claim names"
OPEN2_JSON=$(S open-contract-2 contract open --key cat --provider "$FOX" --service mock --deposit $DEPOSIT2 --duration $DURATION --qpm $QPM -o json)
FORGED_ID=$(jq -r .contract_id <<<"$OPEN2_JSON")
OPEN2_HASH=$(jq -r .tx_hash <<<"$OPEN2_JSON")
[[ "$FORGED_ID" =~ ^[1-9][0-9]*$ && "$FORGED_ID" != "$CONTRACT_ID" ]] || die "FINDING: the second contract open printed no new contract id: $OPEN2_JSON"
record_tx open-2 run arkeo-signer "$OPEN2_HASH"
SHOW_OPEN2=$(S show-after-open-2 contract show "$FORGED_ID" --node "$API" -o json)
[[ $(jq -r .spender <<<"$SHOW_OPEN2") == "${BECH[cat]}" ]] || die "FINDING: contract $FORGED_ID's spender is $(jq -r .spender <<<"$SHOW_OPEN2"), not cat"

# ------------------------------------------------------------------------------------------------ tx send, tx show
say "tx send cat → the delegate, and tx show"
SEND_JSON=$(S send tx send --key cat --to "$HOT_ADDR" --amount ${SEND_AMOUNT}uarkeo --node "$API" -o json)
SEND_HASH=$(jq -r .tx_hash <<<"$SEND_JSON")
record_tx send run arkeo-signer "$SEND_HASH"
S tx-show-open tx show "$OPEN_HASH" --node "$API" >/dev/null
SEND2_JSON=$(S send-fee-payer tx send --key dog --to "$SETTLER_ADDR" --amount ${FUND_SETTLER}uarkeo --node "$API" -o json)
record_tx send-fee-payer run arkeo-signer "$(jq -r .tx_hash <<<"$SEND2_JSON")"
S tx-show-send tx show "$SEND_HASH" --node "$API" -o json >/dev/null

# ------------------------------------------------------------------------------------------------ 100 requests through the proxy
say "proxy: $REQUESTS requests paid by the delegate through the sentinel"
FINDINGS=$WORK/findings.jsonl REQ=$WORK/requests.jsonl
: >"$FINDINGS"
: >"$REQ"
# finding WHAT COMMAND DETAIL_JSON: our CLI did not do what it should against the real chain. The run goes on where a
# documented alternative of ours exists, and ends with exit 1 once the transcript is written.
finding() {
  jq -nc --arg what "$1" --arg cmd "$(scrub "$2")" --argjson detail "$3" '{what: $what, command: $cmd, detail: $detail}' >>"$FINDINGS"
  say "FINDING: $1"
}
start_proxy() { # ARGS…
  PROXY_CMD=("$@")
  node "$CLI" "$@" >"$WORK/proxy.out" 2>"$WORK/proxy.err" </dev/null &
  PROXY_PID=$!
  PIDS+=($PROXY_PID)
  for _ in $(seq 1 60); do curl -sf "$PROXY_URL/healthz" >/dev/null && return 0; kill -0 $PROXY_PID 2>/dev/null || break; sleep 0.25; done
  step proxy arkeo-signer "arkeo-signer$(printf ' %q' "$@")" 1 "$WORK/proxy.out" "$WORK/proxy.err"
  die "FINDING: the proxy did not start: $(head -c 600 "$WORK/proxy.err")"
}
stop_proxy() { # ID NOTE
  local rc=0
  kill -TERM $PROXY_PID
  for _ in $(seq 1 40); do kill -0 $PROXY_PID 2>/dev/null || break; sleep 0.25; done
  wait $PROXY_PID || rc=$?
  step "$1" arkeo-signer "arkeo-signer$(printf ' %q' "${PROXY_CMD[@]}")   # $2" $rc "$WORK/proxy.out" "$WORK/proxy.err"
}
# request N FILE: GET /req/N through the proxy; a line {n, status, tier, body} in FILE and in the log; prints the status.
request() {
  local code tier
  code=$(curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$PROXY_URL/req/$1" || true)
  code=${code:-000}
  tier=$(tr -d '\r' <"$WORK/headers" | awk -F': ' 'tolower($1) == "tier" { print $2 }')
  jq -nc --argjson n "$1" --arg code "$code" --arg tier "$tier" --rawfile body "$WORK/body" '{n: $n, status: ($code | tonumber), tier: $tier, body: $body}' >>"$2"
  echo "\$ curl $PROXY_URL/req/$1 -> $code tier=$tier $(head -c 200 "$WORK/body")" >>"$LOG"
  printf '%s' "$code"
}
PROXY_BY_ID=(proxy --listen 127.0.0.1:$PROXY_PORT --sentinel "$SENTINEL_URL" --service mock --key hot --contract "$CONTRACT_ID")
start_proxy "${PROXY_BY_ID[@]}"
FIRST=1
if [[ $(request 1 "$WORK/probe.jsonl") != 200 ]]; then
  stop_proxy proxy-contract-id "run in the background; one request sent, then SIGTERM"
  finding "proxy --contract $CONTRACT_ID with the contract's delegate key: the request is not paid" "arkeo-signer$(printf ' %q' "${PROXY_BY_ID[@]}")" \
    "$(jq -c --rawfile log "$WORK/proxy.err" '{request: ., proxyLog: $log}' "$WORK/probe.jsonl")"
  # curl takes the same --contract ID through the same payer: one request (a refusal signs nothing).
  CURL_CMD=(curl -i "$SENTINEL_URL/mock/probe" --key hot --contract "$CONTRACT_ID")
  rc=0
  node "$CLI" "${CURL_CMD[@]}" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
  step curl-contract-id arkeo-signer "arkeo-signer$(printf ' %q' "${CURL_CMD[@]}")" $rc "$WORK/out" "$WORK/err"
  if grep -q '^HTTP/1.1 200' "$WORK/out"; then
    die "curl --contract $CONTRACT_ID paid a request where proxy --contract $CONTRACT_ID did not; the nonce count is off: see the log"
  fi
  finding "curl --contract $CONTRACT_ID with the contract's delegate key: the request is not paid" "arkeo-signer$(printf ' %q' "${CURL_CMD[@]}")" \
    "$(jq -nc --argjson rc $rc --rawfile out "$WORK/out" --rawfile err "$WORK/err" '{exitCode: $rc, stdout: $out, stderr: $err}')"
  # The proxy's default, --contract auto (the contract found at the sentinel for the key and service), instead.
  say "the same $REQUESTS requests through proxy --contract auto (its default), instead"
  start_proxy proxy --listen 127.0.0.1:$PROXY_PORT --sentinel "$SENTINEL_URL" --service mock --key hot --contract auto
else
  cat "$WORK/probe.jsonl" >>"$REQ"
  FIRST=2
fi
for i in $(seq $FIRST $REQUESTS); do request "$i" "$REQ" >/dev/null; done
stop_proxy proxy "run in the background during the requests, then SIGTERM"
PAID_BY="arkeo-signer$(printf ' %q' "${PROXY_CMD[@]}")"
REQ_SUMMARY=$(jq -sc --arg by "$PAID_BY" '{paidThrough: $by, count: length, status200: map(select(.status == 200)) | length, tierPaid: map(select(.tier == "paid")) | length,
  upstreamAnsweredItsOwnPath: map(select((.body | fromjson? | .path) == "/req/\(.n)")) | length}' "$REQ")
echo "[requests: $REQ_SUMMARY]" >>"$LOG"
jq -e --argjson n $REQUESTS '.count == $n and .status200 == $n and .tierPaid == $n' <<<"$REQ_SUMMARY" >/dev/null || die "FINDING: not every request through the proxy was answered 200 with tier paid: $REQ_SUMMARY"

# ------------------------------------------------------------------------------------------------ what the sentinel holds
CLAIMS=$(curl -sf "$SENTINEL_URL/claims?contract_id=$CONTRACT_ID")
echo "\$ curl '$SENTINEL_URL/claims?contract_id=$CONTRACT_ID'" >>"$LOG"
echo "$CLAIMS" >>"$LOG"
CLAIM=$(jq -c '[.claims[]?] | max_by(.nonce)' <<<"$CLAIMS")
CLAIM_NONCE=$(jq -r .nonce <<<"$CLAIM") CLAIM_SIG=$(jq -r .signature <<<"$CLAIM")
[[ "$CLAIM_NONCE" == "$REQUESTS" ]] || die "FINDING: the sentinel holds nonce $CLAIM_NONCE for contract $CONTRACT_ID after $REQUESTS paid requests"

# ------------------------------------------------------------------------------------------------ the forged claim
FORGED_PREIMAGE="$FORGED_ID:$FORGED_NONCE:"
say "forgery: contract $FORGED_ID nonce $FORGED_NONCE (\"$FORGED_PREIMAGE\") signed by fox, the provider, not by the contract's spender cat"
FORGED_SIG=$(key fox priv | (cd "$REPO" && node "$HERE/real-chain.mjs" sign-claim "$FORGED_PREIMAGE")) || die "cannot sign the forged claim"
echo "[forged signature: fox's key (test/vectors/shared/arkeo-claims.json) over SHA-256(\"$FORGED_PREIMAGE\"), low-S (test/e2e/real-chain.mjs sign-claim): $FORGED_SIG]" >>"$LOG"
# What it is, by our verify: a sound signature of fox's, and not the spender's.
S_expect verify-forged-by-fox 0 verify --pubkey "$FOX" --message "$FORGED_PREIMAGE" --signature "$FORGED_SIG" >/dev/null
S_expect verify-forged-by-spender 1 verify --pubkey "${BECH[cat]}" --message "$FORGED_PREIMAGE" --signature "$FORGED_SIG" >/dev/null
# The chain's own verdict, simulated (arkeod --dry-run: nothing broadcast, no fee): the genuine claim passes, the
# forged one is refused. chain_judges ID CONTRACT NONCE SIGNATURE: records it, prints the exit code.
chain_judges() {
  local id=$1 rc=0
  shift
  # In simulation mode --from must be an address.
  local args=(tx arkeo claim-contract-income "$@" x --from "${ADDR[dog]}" --dry-run --chain-id $CHAIN "${K[@]}")
  "$ARKEOD" "${args[@]}" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
  step "$id" arkeod "arkeod$(printf ' %q' "${args[@]}")" $rc "$WORK/out" "$WORK/err"
  printf '%s' "$rc"
}
DRY_GENUINE=$(chain_judges dry-run-genuine "$CONTRACT_ID" "$CLAIM_NONCE" "$CLAIM_SIG")
DRY_GENUINE_OUT=$(cat "$WORK/out" "$WORK/err")
DRY_FORGED=$(chain_judges dry-run-forged "$FORGED_ID" "$FORGED_NONCE" "$FORGED_SIG")
DRY_FORGED_OUT=$(cat "$WORK/out" "$WORK/err")
[[ $DRY_GENUINE == 0 ]] || die "the chain's simulation refuses the genuine claim (contract $CONTRACT_ID nonce $CLAIM_NONCE): $(head -c 600 <<<"$DRY_GENUINE_OUT")"
[[ $DRY_FORGED != 0 ]] && grep -qi 'signature' <<<"$DRY_FORGED_OUT" || die "the chain's simulation does not refuse the forged claim for its signature (exit $DRY_FORGED): $(head -c 600 <<<"$DRY_FORGED_OUT")"

say "forgery: the sentinel stopped, the claim written into its store (CLAIM_STORE_LOCATION) with forge-claim, the sentinel started again"
stop_sentinel
echo "[sentinel stopped: SIGTERM, then SIGKILL after 5 s]" >>"$LOG"
FORGED_RECORD=$(jq -nc --arg p "$FOX" --argjson id "$FORGED_ID" --arg s "${BECH[cat]}" --argjson n "$FORGED_NONCE" --arg sig "$FORGED_SIG" \
  '{provider: $p, contract_id: $id, spender: $s, nonce: $n, signature: $sig, claimed: false}')
rc=0
"$WORK/forge-claim/forge-claim" "$CLAIM_STORE" "$FORGED_ID" "$FORGED_RECORD" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
step forge-claim forge-claim "forge-claim$(printf ' %q' "$CLAIM_STORE" "$FORGED_ID" "$FORGED_RECORD")   # the Go program above (goleveldb), the sentinel stopped" $rc "$WORK/out" "$WORK/err"
[[ $rc -eq 0 ]] || die "forge-claim exited $rc: $(head -c 600 "$WORK/err")"
start_sentinel
echo "[sentinel started again on the same stores]" >>"$LOG"
CLAIMS_FORGED=$(curl -sf "$SENTINEL_URL/claims")
echo "\$ curl '$SENTINEL_URL/claims'" >>"$LOG"
echo "$CLAIMS_FORGED" >>"$LOG"
jq -e --argjson id "$FORGED_ID" --argjson n "$FORGED_NONCE" --arg sig "$FORGED_SIG" --argjson gid "$CONTRACT_ID" --argjson gn "$REQUESTS" \
  '([.claims[] | select(.contract_id == $id and .nonce == $n and .signature == $sig)] | length == 1) and ([.claims[] | select(.contract_id == $gid and .nonce == $gn)] | length == 1)' <<<"$CLAIMS_FORGED" >/dev/null \
  || die "the restarted sentinel does not list both the genuine claim and the forged one: $CLAIMS_FORGED"

# ------------------------------------------------------------------------------------------------ settle
H_SETTLE_FROM=$(height)
# tx_search QUERY: the hashes of the transactions CometBFT finds for an event query.
tx_search() { curl -s -G "$RPC/tx_search" --data-urlencode "query=\"$1\"" --data-urlencode per_page=100 | jq -r '.result.txs[]?.hash'; }
# claims_since H: the MsgClaimContractIncome transactions included from height H on.
claims_since() { tx_search "message.action='/arkeo.arkeo.MsgClaimContractIncome' AND tx.height>=$1"; }
SETTLE_REFUSAL=
if [[ -z "${REAL_CHAIN_STAND_IN:-}" ]] && node "$CLI" settle --help >/dev/null 2>&1; then
  say "settle: arkeo-signer settle --once, with the fee payer settler (not the provider)"
  SETTLED_BY="arkeo-signer settle"
  S settle settle --sentinel "$SENTINEL_URL" --node "$API" --key settler --provider "$FOX" --min-value $MIN_VALUE --once >/dev/null
  cp "$WORK/err" "$WORK/settle.err"
  SETTLE_REFUSAL=$(grep -E "^settle: refused contract $FORGED_ID nonce $FORGED_NONCE \(bad_signature\)" "$WORK/settle.err" || true)
  [[ -n "$SETTLE_REFUSAL" ]] || die "FINDING: arkeo-signer settle did not refuse the forged claim (contract $FORGED_ID nonce $FORGED_NONCE) as bad_signature: $(head -c 800 "$WORK/settle.err")"
  # Its transactions, whatever it prints: the claims included since it started.
  sleep 2
  CLAIM_HASHES=$(claims_since "$H_SETTLE_FROM")
  [[ -n "$CLAIM_HASHES" ]] || die "FINDING: arkeo-signer settle --once put no claim in a block"
  for h in $CLAIM_HASHES; do record_tx settle run arkeo-signer "$h"; done
  jq -se --arg s "$SETTLER_ADDR" '[.[] | select(.id == "settle")] | all(.signer.address == $s)' "$TXS" >/dev/null || die "FINDING: a settle transaction was not signed by the fee payer $SETTLER_ADDR"
else
  if [[ -n "${REAL_CHAIN_STAND_IN:-}" ]]; then
    WHY="REAL_CHAIN_STAND_IN=1 asked for the stand-in"
    echo "[REAL_CHAIN_STAND_IN=1: the stand-in path, although this build may have settle]" >>"$LOG"
  else
    WHY="\`arkeo-signer settle\` is not in this build"
    step settle-absent arkeo-signer "arkeo-signer settle --help" "$(node "$CLI" settle --help >"$WORK/out" 2>"$WORK/err"; echo $?)" "$WORK/out" "$WORK/err"
  fi
  SETTLED_BY="arkeod (stand-in): settled by arkeod because $WHY"
  say "settle: STAND-IN — settled by arkeod because $WHY (the claim the sentinel holds for contract $CONTRACT_ID, nonce $CLAIM_NONCE; the forged claim is not judged)"
  # The same fee payer, from arkeo-signer's keyring (arkeod reads it: the same test backend layout).
  out=$(A settle-stand-in tx arkeo claim-contract-income "$CONTRACT_ID" "$CLAIM_NONCE" "$CLAIM_SIG" x --from settler --keyring-dir "$SH" --fees 200uarkeo --chain-id $CHAIN "${K[@]}" -y -o json | last_json)
  [[ $(jq -r .code <<<"$out") == 0 ]] || die "the stand-in claim was refused: $(jq -c '{code, raw_log}' <<<"$out")"
  SETTLE_HASH=$(jq -r .txhash <<<"$out")
  record_tx settle run "arkeod (stand-in: settled by arkeod because $WHY)" "$SETTLE_HASH"
  # The search the settle path relies on finds exactly this claim.
  sleep 1
  [[ $(claims_since "$H_SETTLE_FROM") == "$SETTLE_HASH" ]] || die "tx_search from height $H_SETTLE_FROM does not find the claim $SETTLE_HASH alone"
fi
SHOW_SETTLED=$(S show-after-settle contract show "$CONTRACT_ID" --node "$API" -o json)
[[ $(jq -r .nonce <<<"$SHOW_SETTLED") == "$REQUESTS" && $(jq -r .paid <<<"$SHOW_SETTLED") == $((RATE * REQUESTS)) ]] || die "after settling, contract $CONTRACT_ID has nonce $(jq -r .nonce <<<"$SHOW_SETTLED") and paid $(jq -r .paid <<<"$SHOW_SETTLED")"
SHOW_FORGED_SETTLED=$(S show-forged-after-settle contract show "$FORGED_ID" --node "$API" -o json)
[[ $(jq -r .nonce <<<"$SHOW_FORGED_SETTLED") == 0 && $(jq -r .paid <<<"$SHOW_FORGED_SETTLED") == 0 ]] || die "FINDING: after settling, contract $FORGED_ID (forged claim only) has nonce $(jq -r .nonce <<<"$SHOW_FORGED_SETTLED") and paid $(jq -r .paid <<<"$SHOW_FORGED_SETTLED")"
CLAIMS_AFTER_SETTLE=$(curl -sf "$SENTINEL_URL/claims")
echo "\$ curl '$SENTINEL_URL/claims'   # after settling" >>"$LOG"
echo "$CLAIMS_AFTER_SETTLE" >>"$LOG"

# Every claim transaction on the chain, from block 1, and every transaction the fee payer paid for (a claim that
# failed in its block keeps only its fee events, so it is found by its payer): none may name the forged contract.
SEARCH=$WORK/claim-search.jsonl
: >"$SEARCH"
SEARCH_QUERIES=("message.action='/arkeo.arkeo.MsgClaimContractIncome' AND tx.height>=1" "tx.fee_payer='$SETTLER_ADDR'")
for h in $( { tx_search "${SEARCH_QUERIES[0]}"; tx_search "${SEARCH_QUERIES[1]}"; } | sort -u); do
  r=$(tx_result "$h")
  m=$(cd "$REPO" && node "$HERE/real-chain.mjs" messages "$(jq -r .result.tx <<<"$r")") || die "cannot read the messages of $h"
  jq -nc --arg hash "$h" --argjson r "$r" --argjson m "$m" \
    '{hash: $hash, height: $r.result.height, code: $r.result.tx_result.code, messages: [$m[] | {typeUrl} + (if .typeUrl == "/arkeo.arkeo.MsgClaimContractIncome" then {contractId, nonce} else {} end)]}' >>"$SEARCH"
done
for q in "${SEARCH_QUERIES[@]}"; do echo "\$ curl -G '$RPC/tx_search' --data-urlencode 'query=\"$q\"'" >>"$LOG"; done
cat "$SEARCH" >>"$LOG"
jq -se --arg id "$FORGED_ID" 'all(.[].messages[]; .contractId != $id)' "$SEARCH" >/dev/null || die "FINDING: a transaction on the chain claims for the forged contract $FORGED_ID"
jq -se --arg id "$CONTRACT_ID" --arg n "$REQUESTS" '[.[] | select(.code == 0) | .messages[] | select(.contractId == $id and .nonce == $n)] | length == 1' "$SEARCH" >/dev/null \
  || die "FINDING: the chain does not hold exactly one claim for contract $CONTRACT_ID nonce $REQUESTS"

# ------------------------------------------------------------------------------------------------ close, and the final settlements
say "contract close (both), then the final settlements $SETTLEMENT_DURATION blocks later"
CLOSE_JSON=$(S close contract close --id "$CONTRACT_ID" --key cat --node "$API" -o json)
CLOSE_HASH=$(jq -r .tx_hash <<<"$CLOSE_JSON")
record_tx close run arkeo-signer "$CLOSE_HASH"
H_CLOSE=$(jq -r .included.height <<<"$CLOSE_JSON")
H_FINAL=$((H_CLOSE + SETTLEMENT_DURATION))
CLOSE2_JSON=$(S close-2 contract close --id "$FORGED_ID" --key cat --node "$API" -o json)
record_tx close-2 run arkeo-signer "$(jq -r .tx_hash <<<"$CLOSE2_JSON")"
H_CLOSE2=$(jq -r .included.height <<<"$CLOSE2_JSON")
H_FINAL2=$((H_CLOSE2 + SETTLEMENT_DURATION))
H_LAST=$(( H_FINAL > H_FINAL2 ? H_FINAL : H_FINAL2 ))
for _ in $(seq 1 120); do [[ $(height) -gt $H_LAST ]] && break; sleep 0.5; done
[[ $(height) -gt $H_LAST ]] || die "the chain did not reach height $H_LAST"
SHOW_FINAL=$(S show-after-final contract show "$CONTRACT_ID" --node "$API" -o json)
S show-after-final-text contract show "$CONTRACT_ID" --node "$API" >/dev/null
[[ $(jq -r .settlement_height <<<"$SHOW_FINAL") == "$H_FINAL" ]] || die "FINDING: contract $CONTRACT_ID: settlement height $(jq -r .settlement_height <<<"$SHOW_FINAL"), expected close $H_CLOSE + $SETTLEMENT_DURATION"
SHOW_FINAL2=$(S show-after-final-2 contract show "$FORGED_ID" --node "$API" -o json)
[[ $(jq -r .settlement_height <<<"$SHOW_FINAL2") == "$H_FINAL2" && $(jq -r .paid <<<"$SHOW_FINAL2") == 0 ]] \
  || die "FINDING: contract $FORGED_ID: settlement height $(jq -r .settlement_height <<<"$SHOW_FINAL2") (expected $H_FINAL2), paid $(jq -r .paid <<<"$SHOW_FINAL2") (expected 0)"
# final_events H: the end-block of a final settlement: its arkeo events and the refund's transfer to cat.
final_events() {
  curl -sf "$RPC/block_results?height=$1" | jq -c --arg cat "${ADDR[cat]}" '[.result.finalize_block_events[]? | select((.type | startswith("arkeo.")) or (.type == "transfer" and any(.attributes[]; .key == "recipient" and .value == $cat)))
    | {type, attributes: [.attributes[] | select(.key != "mode") | {key, value}]}]'
}
FINAL_EVENTS=$(final_events "$H_FINAL")
echo "[end-block events at $H_FINAL: $FINAL_EVENTS]" >>"$LOG"
FINAL2_EVENTS=$(final_events "$H_FINAL2")
echo "[end-block events at $H_FINAL2: $FINAL2_EVENTS]" >>"$LOG"
S list-after contract list --key cat --node "$API" >/dev/null

H_AFTER=$(height)
AFTER=$(balances_at "$H_AFTER")
say "balances at height $H_AFTER: $AFTER"

# ------------------------------------------------------------------------------------------------ the transcript
say "writing real-chain-transcript.json in OUTDIR"
GIT_COMMIT=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(git -C "$REPO" status --porcelain -- src 2>/dev/null | head -c 1)
jq -n --slurpfile steps "$STEPS" --slurpfile txs "$TXS" --slurpfile req "$REQ" --slurpfile findings "$FINDINGS" --arg date "$(date -u +%FT%TZ)" \
  --arg version "$("$ARKEOD" version 2>&1)" --arg commit "$("$ARKEOD" version --long 2>&1 | sed -n 's/^commit: //p')" \
  --arg signer "$(node "$CLI" version -o json | jq -r .version)" --arg gitCommit "$GIT_COMMIT" --arg dirty "$GIT_DIRTY" \
  --arg arkeodSha "$(sha256sum "$ARKEOD" | cut -d' ' -f1)" --arg sentinelSha "$(sha256sum "$SENTINEL" | cut -d' ' -f1)" \
  --arg chain $CHAIN --arg network "$NETWORK" --arg mgp $MIN_GAS_PRICE --arg settledBy "$SETTLED_BY" \
  --arg cat "${ADDR[cat]}" --arg catPub "${BECH[cat]}" --arg fox "${ADDR[fox]}" --arg foxPub "$FOX" --arg hot "$HOT_ADDR" --arg hotPub "$HOT_PUB" --arg contracts "$CONTRACTS_ADDR" \
  --arg id "$CONTRACT_ID" --argjson rate $RATE --argjson sd $SETTLEMENT_DURATION --argjson deposit $DEPOSIT --argjson duration $DURATION --argjson qpm $QPM \
  --arg hClose "$H_CLOSE" --arg hFinal "$H_FINAL" --argjson showOpen "$SHOW_OPEN" --argjson showSettled "$SHOW_SETTLED" --argjson showFinal "$SHOW_FINAL" \
  --argjson finalEvents "$FINAL_EVENTS" --argjson summary "$REQ_SUMMARY" --argjson claims "$CLAIMS" --argjson claim "$CLAIM" \
  --arg hBefore "$H_BEFORE" --arg hAfter "$H_AFTER" --argjson before "$BEFORE" --argjson after "$AFTER" \
  --arg settler "$SETTLER_ADDR" --arg settlerPub "$SETTLER_PUB" --arg dog "${ADDR[dog]}" --argjson fund $FUND_SETTLER --argjson minValue $MIN_VALUE \
  --arg id2 "$FORGED_ID" --argjson deposit2 $DEPOSIT2 --arg hClose2 "$H_CLOSE2" --arg hFinal2 "$H_FINAL2" --argjson showOpen2 "$SHOW_OPEN2" \
  --argjson showForgedSettled "$SHOW_FORGED_SETTLED" --argjson showFinal2 "$SHOW_FINAL2" --argjson final2Events "$FINAL2_EVENTS" \
  --arg preimage "$FORGED_PREIMAGE" --argjson record "$FORGED_RECORD" --argjson claimsForged "$CLAIMS_FORGED" --argjson claimsAfterSettle "$CLAIMS_AFTER_SETTLE" \
  --arg refusal "$SETTLE_REFUSAL" --slurpfile search "$SEARCH" --arg q1 "${SEARCH_QUERIES[0]}" --arg q2 "${SEARCH_QUERIES[1]}" \
  --argjson dryGenuine "$DRY_GENUINE" --argjson dryForged "$DRY_FORGED" \
  '{
    description: "arkeo-signer against a real single-node Arkeo chain (arkeod v1.0.17) and the real sentinel: a delegate key, a contract opened, 100 requests paid through the proxy, a forged claim for a second contract written into the sentinel'"'"'s claim store, the income settled by arkeo-signer settle from a fee payer that is not the provider (the genuine claim paid, the forged one refused and never sent), both contracts closed, and the balances checked against the chain'"'"'s rules. Made by test/e2e/real-chain.sh; test/tx/real-chain-transcript.test.ts re-checks it (provenance: PROVENANCE.md).",
    recorded: {date: $date, arkeodVersion: $version, arkeodCommit: $commit, arkeodSha256: $arkeodSha, sentinelSha256: $sentinelSha, arkeoSignerVersion: $signer, arkeoSignerCommit: $gitCommit,
      arkeoSignerSrcModified: ($dirty != ""), chainId: $chain, minimumGasPrices: $mgp, network: $network, settledBy: $settledBy},
    fields: {
      steps: "every command, in order: the tool, the command line (WORK, HOME and SIGNER_HOME stand for the throw-away directories; ARKEO_HOME=SIGNER_HOME, ARKEO_NODE=the LCD and ARKEO_KEYRING_BACKEND=test were set for arkeo-signer), exit code, stdout, stderr, the chain height after it",
      transactions: "every transaction, as the block holds it: txRawBase64 (CometBFT /tx result.tx), txHash (= UPPER_HEX(SHA-256(TxRaw)), checked), what the bytes say (signer, sequence, fee, messages), height, code, gas and arkeo.* events; phase setup: before the balances were taken, run: counted in the expectation",
      requests: "each request sent to the proxy: its status, the sentinel'"'"'s tier header and the upstream'"'"'s body (the upstream echoes the path it was asked)",
      balances: "uarkeo of each account at heights.before and heights.after (LCD with x-cosmos-block-height)",
      findings: "where arkeo-signer did not do what it should against the real chain: what, the command, and what came back (the run went on with the documented alternative named in the steps)",
      forgery: "the second contract, the claim written into the stopped sentinel'"'"'s claim store (LevelDB, key = contract id, value = the claim JSON), what the sentinel listed after its restart, the chain'"'"'s simulated verdict on the genuine and the forged claim (exit codes; the outputs are in steps), the line settle logged refusing it, and chainSearch: every transaction the chain holds that a claim search (from block 1) or the fee payer'"'"'s fees find, with its claims",
      expectation: "the balances the chain'"'"'s rules give from the recorded transactions (test/e2e/real-chain.mjs), and whether each matched"
    },
    keys: {cat: {address: $cat, bech32PubKey: $catPub, role: "client (signs open, send, close)"}, fox: {address: $fox, bech32PubKey: $foxPub, role: "provider of mock"},
      delegate: {name: "hot", address: $hot, bech32PubKey: $hotPub, role: "claim delegate (made by arkeo-signer keys add hot --delegate-for cat)"},
      settler: {name: "settler", address: $settler, bech32PubKey: $settlerPub, role: "the settle fee payer, not the provider (made by arkeo-signer keys add settler; funded by dog)"},
      dog: {address: $dog, role: "validator; funds the fee payer"}},
    provider: {service: "mock", payAsYouGoRate: "\($rate)uarkeo", settlementDuration: ($sd | tostring)},
    contract: {id: $id, deposit: ($deposit | tostring), duration: ($duration | tostring), qpm: ($qpm | tostring), closeHeight: $hClose, finalSettlementHeight: $hFinal,
      afterOpen: $showOpen, afterSettle: $showSettled, afterFinal: $showFinal, finalSettlementEvents: $finalEvents},
    findings: $findings,
    steps: $steps,
    transactions: $txs,
    requests: ($summary + {each: $req}),
    sentinelClaims: $claims,
    settledClaim: $claim,
    settle: {by: $settledBy, feePayer: $settler, minValue: ($minValue | tostring), fund: ($fund | tostring)},
    forgery: {
      contract: {id: $id2, deposit: ($deposit2 | tostring), closeHeight: $hClose2, finalSettlementHeight: $hFinal2, afterOpen: $showOpen2, afterSettle: $showForgedSettled, afterFinal: $showFinal2, finalSettlementEvents: $final2Events},
      preimage: $preimage, signedBy: {name: "fox", bech32PubKey: $foxPub, role: "the provider: not the contract'"'"'s spender"},
      storeRecord: $record,
      sentinelClaimsAfterRestart: $claimsForged,
      chainSimulation: {genuineExitCode: $dryGenuine, forgedExitCode: $dryForged},
      settleRefusal: (if $refusal == "" then null else $refusal end),
      chainSearch: {queries: [$q1, $q2], found: $search}
    },
    sentinelClaimsAfterSettle: $claimsAfterSettle,
    balances: {heights: {before: $hBefore, after: $hAfter}, addresses: {cat: $cat, fox: $fox, delegate: $hot, settler: $settler, contracts: $contracts}, before: $before, after: $after}
  }' >"$WORK/draft.json"
rc=0
(cd "$REPO" && node "$HERE/real-chain.mjs" expect "$WORK/draft.json") >"$OUT/real-chain-transcript.json" || rc=$?
jq -c '.expectation | {expected, matched, allMatched}' "$OUT/real-chain-transcript.json" | tee -a "$LOG" >&2
[[ $rc -eq 0 ]] || die "FINDING: the balances are not what the chain's rules give (exit $rc); the transcript is written"
say "done: contract $CONTRACT_ID, $REQUESTS paid requests, settled by $SETTLED_BY; the forged claim for contract $FORGED_ID ${SETTLE_REFUSAL:+refused and }never sent; every balance as the rules give"
if [[ -s "$FINDINGS" ]]; then
  echo "real-chain: $(wc -l <"$FINDINGS") finding(s), in the transcript's findings:" >&2
  jq -r '"  - " + .what' "$FINDINGS" >&2
  exit 1
fi
