module arkeo-signer/interop-oracle

go 1.22

require github.com/cosmos/cosmos-sdk v0.50.11
