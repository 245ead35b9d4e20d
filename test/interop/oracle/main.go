// Interop oracle: test equipment, not product. It drives the real Cosmos SDK v0.50.11 keyring code (with
// 99designs/keyring v1.2.1, resolved the way arkeod resolves it: no replace directive) so the TypeScript suite
// can prove byte compatibility against Go rather than against our reading of Go. Commands print JSON or one
// result per line; batch commands read their inputs from stdin, one per line.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"

	keyring99 "github.com/99designs/keyring"
	clientkeys "github.com/cosmos/cosmos-sdk/client/keys"
	"github.com/cosmos/cosmos-sdk/codec"
	codectypes "github.com/cosmos/cosmos-sdk/codec/types"
	cryptocodec "github.com/cosmos/cosmos-sdk/crypto/codec"
	"github.com/cosmos/cosmos-sdk/crypto/hd"
	"github.com/cosmos/cosmos-sdk/crypto/keyring"
	"github.com/cosmos/cosmos-sdk/crypto/keys/multisig"
	"github.com/cosmos/cosmos-sdk/crypto/keys/secp256k1"
	cryptotypes "github.com/cosmos/cosmos-sdk/crypto/types"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/bech32/legacybech32"
	"github.com/cosmos/cosmos-sdk/types/tx/signing"
	"github.com/cosmos/go-bip39"
	"golang.org/x/crypto/sha3"
	"sigs.k8s.io/yaml"
)

const hdPath = "m/44'/118'/0'/0/0"

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "oracle: "+format+"\n", args...)
	os.Exit(1)
}

func must[T any](v T, err error) T {
	if err != nil {
		die("%v", err)
	}
	return v
}

func newCodec() codec.Codec {
	reg := codectypes.NewInterfaceRegistry()
	cryptocodec.RegisterInterfaces(reg)
	return codec.NewProtoCodec(reg)
}

// openKeyring opens DIR with BACKEND as arkeod does. The file backend's passphrase comes from
// $ORACLE_PASSPHRASE, fed to the SDK's own prompt (non-TTY input is read line by line). The app name is the
// keyring service name arkeod's release builds link in (version.Name "Arkeo"), or $ORACLE_APP_NAME: it names the
// os backend's Secret Service collection and the pass backend's keyring-<name> folder.
func openKeyring(dir, backend string) keyring.Keyring {
	pass := os.Getenv("ORACLE_PASSPHRASE")
	input := strings.NewReader(strings.Repeat(pass+"\n", 16))
	name := os.Getenv("ORACLE_APP_NAME")
	if name == "" {
		name = "Arkeo"
	}
	return must(keyring.New(name, backend, dir, input, newCodec()))
}

func init() {
	cfg := sdk.GetConfig()
	cfg.SetBech32PrefixForAccount("arkeo", "arkeopub")
	cfg.SetBech32PrefixForValidator("arkeovaloper", "arkeovaloperpub")
	cfg.SetBech32PrefixForConsensusNode("arkeovalcons", "arkeovalconspub")
}

type keyOut struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Address  string `json:"address"`
	PubKey   string `json:"pubkey_hex"`
	Mnemonic string `json:"mnemonic,omitempty"`
}

func describe(r *keyring.Record) keyOut {
	addr := must(r.GetAddress())
	pub := must(r.GetPubKey())
	return keyOut{Name: r.Name, Type: r.GetType().String(), Address: addr.String(), PubKey: hex.EncodeToString(pub.Bytes())}
}

func printJSON(v any) {
	must(0, json.NewEncoder(os.Stdout).Encode(v))
}

func lines(r io.Reader) []string {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var out []string
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func main() {
	if len(os.Args) < 2 {
		die("usage: oracle new-keyring|recover|list|show|save-offline|sign|sign-batch|sign-raw|verify|verify-raw|export|import|delete|record-bytes|item-json|claim-verify ...")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "new-keyring": // DIR BACKEND N
		n := must(strconv.Atoi(args[2]))
		kr := openKeyring(args[0], args[1])
		var out []keyOut
		for i := 0; i < n; i++ {
			mnemonic := must(bip39.NewMnemonic(must(bip39.NewEntropy(256))))
			rec := must(kr.NewAccount(fmt.Sprintf("key-%d", i), mnemonic, "", hdPath, hd.Secp256k1))
			o := describe(rec)
			o.Mnemonic = mnemonic
			out = append(out, o)
		}
		printJSON(out)
	case "recover": // DIR BACKEND NAME MNEMONIC
		kr := openKeyring(args[0], args[1])
		printJSON(describe(must(kr.NewAccount(args[2], args[3], "", hdPath, hd.Secp256k1))))
	case "list": // DIR BACKEND
		recs := must(openKeyring(args[0], args[1]).List())
		out := []keyOut{}
		for _, r := range recs {
			out = append(out, describe(r))
		}
		printJSON(out)
	case "sign": // DIR BACKEND NAME MSGHEX
		sig, _ := must2(openKeyring(args[0], args[1]).Sign(args[2], must(hex.DecodeString(args[3])), signing.SignMode_SIGN_MODE_DIRECT))
		fmt.Println(hex.EncodeToString(sig))
	case "sign-batch": // DIR BACKEND NAME < msghex lines
		kr := openKeyring(args[0], args[1])
		w := bufio.NewWriter(os.Stdout)
		for _, l := range lines(os.Stdin) {
			sig, _ := must2(kr.Sign(args[2], must(hex.DecodeString(l)), signing.SignMode_SIGN_MODE_DIRECT))
			fmt.Fprintln(w, hex.EncodeToString(sig))
		}
		must(0, w.Flush())
	case "sign-raw": // < "privhex msghex" lines
		w := bufio.NewWriter(os.Stdout)
		for _, l := range lines(os.Stdin) {
			f := strings.Fields(l)
			priv := &secp256k1.PrivKey{Key: must(hex.DecodeString(f[0]))}
			fmt.Fprintln(w, hex.EncodeToString(must(priv.Sign(must(hex.DecodeString(f[1]))))))
		}
		must(0, w.Flush())
	case "verify": // PUBHEX MSGHEX SIGHEX
		pub := &secp256k1.PubKey{Key: must(hex.DecodeString(args[0]))}
		fmt.Println(pub.VerifySignature(must(hex.DecodeString(args[1])), must(hex.DecodeString(args[2]))))
	case "verify-raw": // < "pubhex msghex sighex" lines
		w := bufio.NewWriter(os.Stdout)
		for _, l := range lines(os.Stdin) {
			f := strings.Fields(l)
			pub := &secp256k1.PubKey{Key: must(hex.DecodeString(f[0]))}
			fmt.Fprintln(w, pub.VerifySignature(must(hex.DecodeString(f[1])), must(hex.DecodeString(f[2]))))
		}
		must(0, w.Flush())
	case "export": // DIR BACKEND NAME PASSPHRASE
		fmt.Println(must(openKeyring(args[0], args[1]).ExportPrivKeyArmor(args[2], args[3])))
	case "import": // DIR BACKEND NAME ARMORFILE PASSPHRASE
		kr := openKeyring(args[0], args[1])
		must(0, kr.ImportPrivKey(args[2], string(must(os.ReadFile(args[3]))), args[4]))
		printJSON(describe(must(kr.Key(args[2]))))
	case "delete": // DIR BACKEND NAME
		must(0, openKeyring(args[0], args[1]).Delete(args[2]))
	case "show": // DIR BACKEND NAME: what `arkeod keys show` reads (Key, then type, address and pubkey)
		printJSON(describe(must(openKeyring(args[0], args[1]).Key(args[2]))))
	case "save-offline": // DIR BACKEND NAME PUBHEX: `arkeod keys add NAME --pubkey`
		pub := &secp256k1.PubKey{Key: must(hex.DecodeString(args[3]))}
		printJSON(describe(must(openKeyring(args[0], args[1]).SaveOfflineKey(args[2], pub))))
	case "record-bytes": // < "namehex privhex" lines: gogoproto bytes of NewLocalRecord, as writeRecord stores them
		cdc := newCodec()
		w := bufio.NewWriter(os.Stdout)
		for _, l := range lines(os.Stdin) {
			f := strings.Fields(l)
			priv := &secp256k1.PrivKey{Key: must(hex.DecodeString(f[1]))}
			rec := must(keyring.NewLocalRecord(string(must(hex.DecodeString(f[0]))), priv, priv.PubKey()))
			fmt.Fprintln(w, hex.EncodeToString(must(cdc.Marshal(rec))))
		}
		must(0, w.Flush())
	case "item-json": // < "keyhex datahex" lines: json.Marshal(keyring.Item), the plaintext of every keyring file
		w := bufio.NewWriter(os.Stdout)
		for _, l := range lines(os.Stdin) {
			f := strings.Fields(l)
			data := must(hex.DecodeString(f[1]))
			fmt.Fprintln(w, hex.EncodeToString(must(json.Marshal(keyring99.Item{Key: string(must(hex.DecodeString(f[0]))), Data: data}))))
		}
		must(0, w.Flush())
	case "claim-verify": // < JSON lines, see claimCase
		w := bufio.NewWriter(os.Stdout)
		enc := json.NewEncoder(w)
		for _, l := range lines(os.Stdin) {
			var c claimCase
			must(0, json.Unmarshal([]byte(l), &c))
			must(0, enc.Encode(c.verify()))
		}
		must(0, w.Flush())
	case "write-records": // DIR BACKEND < JSON lines (recordSpec): local, offline, multi and ledger records as arkeod writes them
		kr := openKeyring(args[0], args[1])
		for _, l := range lines(os.Stdin) {
			var s recordSpec
			must(0, json.Unmarshal([]byte(l), &s))
			s.write(kr, args[0], args[1])
		}
	case "outputs-for-names": // PUBHEX < hex names: keys show -o json / text for an offline record of each name (no files)
		w := bufio.NewWriter(os.Stdout)
		enc := json.NewEncoder(w)
		for _, l := range lines(os.Stdin) {
			rec := must(keyring.NewOfflineRecord(string(must(hex.DecodeString(l))), pubKey(args[0])))
			ko := must(clientkeys.MkAccKeyOutput(rec))
			one := []clientkeys.KeyOutput{ko}
			o := shown{Name: l, JSON: string(must(json.Marshal(ko))) + "\n"}
			// Some names cannot be printed as text by arkeod: sigs.k8s.io/yaml re-reads the JSON as YAML, and
			// the YAML reader refuses raw DEL and C1 controls. Record the error arkeod prints instead.
			if text, err := yaml.Marshal(&one); err != nil {
				o.TextError = err.Error()
			} else {
				o.Text = string(text) + "\n"
			}
			must(0, enc.Encode(o))
		}
		must(0, w.Flush())
	case "key-outputs": // DIR BACKEND: what `arkeod keys list` and `keys show NAME` print, -o json and text
		printJSON(keyOutputs(openKeyring(args[0], args[1])))
	default:
		die("unknown command %q", os.Args[1])
	}
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		die("%v", err)
	}
	return a, b
}

// ---------------------------------------------------------------------------------------------------------
// Arkeo v1.0.17 verification rules (arkeo-claims.md §3.3, §3.4, §6.2), written independently of the
// TypeScript emulation: arkeonetwork/arkeo is not served by the Go module proxy, so its code cannot be linked
// here. Signature checks use the SDK's own secp256k1 PubKey.VerifySignature.

type claimCase struct {
	Verifier string `json:"verifier"` // "sentinel" or "chain"
	Header   string `json:"header"`   // sentinel: the arkauth value
	Client   string `json:"client"`   // sentinel: contract.Client pubkey hex
	Spender  string `json:"spender"`  // chain: contract.GetSpender() pubkey hex
	Cid      uint64 `json:"cid"`
	Nonce    int64  `json:"nonce"`
	Sig      string `json:"sig"`
	ChainID  string `json:"chain_id"`
}

type verdict struct {
	Accepted bool   `json:"accepted"`
	Why      string `json:"why"`
}

func (c claimCase) verify() verdict {
	switch c.Verifier {
	case "sentinel":
		return sentinelVerify(c.Header, must(hex.DecodeString(c.Client)))
	case "chain":
		return chainVerify(c.Cid, c.Nonce, must(hex.DecodeString(c.Sig)), must(hex.DecodeString(c.Spender)), c.ChainID)
	}
	die("unknown verifier %q", c.Verifier)
	return verdict{}
}

func sentinelVerify(raw string, client []byte) verdict {
	parts := strings.SplitN(raw, ":", 4)
	var cidS, nonceS, sigS string
	spender := &secp256k1.PubKey{Key: client}
	switch len(parts) {
	case 3:
		cidS, nonceS, sigS = parts[0], parts[1], parts[2]
	case 4:
		cidS, nonceS, sigS = parts[0], parts[2], parts[3]
		pk, err := legacybech32.UnmarshalPubKey(legacybech32.AccPK, parts[1])
		if err != nil {
			return verdict{false, err.Error()}
		}
		spk, ok := pk.(*secp256k1.PubKey)
		if !ok {
			return verdict{false, "not a secp256k1 key"}
		}
		spender = spk
	default:
		return verdict{false, "invalid arkauth format"}
	}
	cid, err := strconv.ParseUint(cidS, 10, 64)
	if err != nil {
		return verdict{false, err.Error()}
	}
	nonce, err := strconv.ParseInt(nonceS, 10, 64)
	if err != nil {
		return verdict{false, err.Error()}
	}
	sig, err := hex.DecodeString(sigS)
	if err != nil {
		return verdict{false, err.Error()}
	}
	if nonce <= 0 || len(sig) > 100 {
		return verdict{false, "ValidateBasic"}
	}
	pre := []byte(fmt.Sprintf("%d:%d:", cid, nonce))
	digest := sha256.Sum256(pre)
	eth := append([]byte(fmt.Sprintf("\x19Ethereum Signed Message:\n%d", len(pre))), pre...)
	for i, msg := range [][]byte{digest[:], pre, keccak(pre), keccak(eth)} {
		if spender.VerifySignature(msg, sig) {
			return verdict{true, fmt.Sprintf("branch %d", i+1)}
		}
	}
	return verdict{false, "invalid signature for client"}
}

func keccak(b []byte) []byte {
	h := sha3.NewLegacyKeccak256()
	h.Write(b)
	return h.Sum(nil)
}

var curveN, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

func chainVerify(cid uint64, nonce int64, sig, spender []byte, chainID string) verdict {
	if nonce <= 0 || len(sig) > 100 {
		return verdict{false, "ValidateBasic"}
	}
	if len(sig) != 64 {
		return verdict{false, "signature must be 64 bytes (r||s)"}
	}
	pk := &secp256k1.PubKey{Key: spender}
	pre := []byte(fmt.Sprintf("%d:%d:%s", cid, nonce, chainID))
	preNoChain := []byte(fmt.Sprintf("%d:%d:", cid, nonce))
	d1 := sha256.Sum256(pre)
	d2 := sha256.Sum256(preNoChain)
	msgs := [][]byte{pre, d1[:], preNoChain, d2[:]}
	check := func(s []byte) (bool, int) {
		for i, m := range msgs {
			if pk.VerifySignature(m, s) {
				return true, i + 1
			}
		}
		return false, 0
	}
	if ok, b := check(sig); ok {
		return verdict{true, fmt.Sprintf("branch %d", b)}
	}
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(new(big.Int).Rsh(curveN, 1)) > 0 {
		low := make([]byte, 64)
		copy(low, sig[:32])
		new(big.Int).Sub(curveN, s).FillBytes(low[32:])
		if ok, b := check(low); ok {
			return verdict{true, fmt.Sprintf("branch %d after low-S normalisation", b)}
		}
	}
	return verdict{false, "signature mismatch"}
}

// ---------------------------------------------------------------------------------------------------------
// Records of every kind, and the SDK's own output code for them (client/keys).

type recordSpec struct {
	Kind      string   `json:"kind"` // local, offline, multi, ledger
	Name      string   `json:"name"` // hex of the name bytes, so any byte survives the line-based input
	Mnemonic  string   `json:"mnemonic,omitempty"`
	PubKeys   []string `json:"pubkeys,omitempty"` // hex 33-byte secp256k1 keys
	Threshold int      `json:"threshold,omitempty"`
	Account   uint32   `json:"account,omitempty"`
	Index     uint32   `json:"index,omitempty"`
}

func pubKey(h string) *secp256k1.PubKey {
	return &secp256k1.PubKey{Key: must(hex.DecodeString(h))}
}

func (s recordSpec) write(kr keyring.Keyring, dir, backend string) {
	name := string(must(hex.DecodeString(s.Name)))
	switch s.Kind {
	case "local": // arkeod keys add NAME --recover
		must(kr.NewAccount(name, s.Mnemonic, "", hdPath, hd.Secp256k1))
	case "offline": // arkeod keys add NAME --pubkey
		must(kr.SaveOfflineKey(name, pubKey(s.PubKeys[0])))
	case "multi": // arkeod keys add NAME --multisig a,b,c --multisig-threshold K
		pks := make([]cryptotypes.PubKey, len(s.PubKeys))
		for i, h := range s.PubKeys {
			pks[i] = pubKey(h)
		}
		must(kr.SaveMultisig(name, multisig.NewLegacyAminoPubKey(s.Threshold, pks)))
	case "ledger":
		// SaveLedgerKey needs a device. The record is the SDK's NewLedgerRecord, written as the SDK's
		// writeRecord writes it (unexported): "<name>.info" = cdc.Marshal(record), then "<hexaddr>.address" =
		// "<name>.info", through 99designs with the test backend's configuration.
		if backend != "test" {
			die("ledger records: test backend only")
		}
		pk := pubKey(s.PubKeys[0])
		rec := must(keyring.NewLedgerRecord(name, pk, hd.NewFundraiserParams(s.Account, sdk.CoinType, s.Index)))
		db := must(keyring99.Open(keyring99.Config{
			AllowedBackends:  []keyring99.BackendType{keyring99.FileBackend},
			ServiceName:      "arkeod",
			FileDir:          dir + "/keyring-test",
			FilePasswordFunc: func(string) (string, error) { return "test", nil },
		}))
		must(0, db.Set(keyring99.Item{Key: name + ".info", Data: must(newCodec().Marshal(rec))}))
		must(0, db.Set(keyring99.Item{Key: hex.EncodeToString(pk.Address()) + ".address", Data: []byte(name + ".info")}))
	default:
		die("unknown record kind %q", s.Kind)
	}
}

type shown struct {
	Name string `json:"name"` // the key name (outputs-for-names: its hex)
	JSON string `json:"json"`
	Text string `json:"text"`
	// TextError: what arkeod prints instead of the text, when it cannot (outputs-for-names only).
	TextError string `json:"text_error,omitempty"`
}

type outputs struct {
	ListJSON string  `json:"list_json"`
	ListText string  `json:"list_text"`
	Show     []shown `json:"show"`
}

// keyOutputs reproduces client/keys printKeyringRecords and printKeyringRecord (unexported, in utils.go) with
// the same calls: MkAccKeysOutput / MkAccKeyOutput, then json.Marshal (list: Fprintf "%s", no newline; show:
// Fprintln) or sigs.k8s.io/yaml Marshal of the slice, then Fprintln (a list of one for show).
func keyOutputs(kr keyring.Keyring) outputs {
	recs := must(kr.List())
	kos := must(clientkeys.MkAccKeysOutput(recs))
	o := outputs{ListJSON: string(must(json.Marshal(kos))), ListText: string(must(yaml.Marshal(&kos))) + "\n"}
	for _, r := range recs {
		ko := must(clientkeys.MkAccKeyOutput(must(kr.Key(r.Name))))
		one := []clientkeys.KeyOutput{ko}
		o.Show = append(o.Show, shown{Name: r.Name, JSON: string(must(json.Marshal(ko))) + "\n", Text: string(must(yaml.Marshal(&one))) + "\n"})
	}
	return o
}
