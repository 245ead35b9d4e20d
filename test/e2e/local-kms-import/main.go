// local-kms-import puts given secp256k1 key material into a key that local-kms (nsmithuk/local-kms) created with
// KeySpec ECC_SECG_P256K1, so that a test can sign through local-kms with a key whose signatures a real arkeod
// recorded. local-kms has no API for it: ImportKeyMaterial takes AES keys only, and its seeding file parses EC keys
// with Go's crypto/x509, which does not know secp256k1. Its data store is LevelDB with one JSON record per key
// ARN, and the record of an ECC key holds D, X, Y and CurveType; only those four are replaced, the key's metadata
// (spec, usage, algorithms) stays as local-kms's own CreateKey wrote it. local-kms must be stopped (LevelDB takes
// a lock).
//
// Usage: local-kms-import DATA_DIR KEY_ARN D_HEX X_HEX Y_HEX
// X and Y are the public point of D, computed by the caller (this program does no curve arithmetic).
package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"

	"github.com/syndtr/goleveldb/leveldb"
)

type eccPrivateKey struct {
	D         *big.Int
	X         *big.Int
	Y         *big.Int
	CurveType string
}

func main() {
	if len(os.Args) != 6 {
		fail("usage: local-kms-import DATA_DIR KEY_ARN D_HEX X_HEX Y_HEX")
	}
	dir, arn := os.Args[1], os.Args[2]
	var key eccPrivateKey
	for i, p := range []**big.Int{&key.D, &key.X, &key.Y} {
		v, ok := new(big.Int).SetString(os.Args[3+i], 16)
		if !ok {
			fail(fmt.Sprintf("argument %d is not hex", 3+i))
		}
		*p = v
	}
	key.CurveType = "secp256k1"

	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		fail(fmt.Sprintf("%s: %v (is local-kms still running?)", dir, err))
	}
	defer db.Close()
	raw, err := db.Get([]byte(arn), nil)
	if err != nil {
		fail(fmt.Sprintf("%s: no record for %s: %v", dir, arn, err))
	}
	var record map[string]json.RawMessage
	if err := json.Unmarshal(raw, &record); err != nil {
		fail(fmt.Sprintf("%s: the record is not JSON: %v", arn, err))
	}
	var meta struct{ KeySpec, KeyUsage string }
	var old struct{ CurveType string }
	_ = json.Unmarshal(record["Metadata"], &meta)
	_ = json.Unmarshal(record["PrivateKey"], &old)
	if meta.KeySpec != "ECC_SECG_P256K1" || meta.KeyUsage != "SIGN_VERIFY" || old.CurveType != "secp256k1" {
		fail(fmt.Sprintf("%s is %s/%s on curve %q; create it with KeySpec ECC_SECG_P256K1, KeyUsage SIGN_VERIFY", arn, meta.KeySpec, meta.KeyUsage, old.CurveType))
	}
	if record["PrivateKey"], err = json.Marshal(key); err != nil {
		fail(err.Error())
	}
	out, err := json.Marshal(record)
	if err != nil {
		fail(err.Error())
	}
	if err := db.Put([]byte(arn), out, nil); err != nil {
		fail(err.Error())
	}
}

func fail(why string) {
	fmt.Fprintln(os.Stderr, "local-kms-import: "+why)
	os.Exit(1)
}
