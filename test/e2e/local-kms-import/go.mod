module arkeo-signer/local-kms-import

go 1.22

require github.com/syndtr/goleveldb v1.0.1-0.20210819022825-2ae1ddf74ef7

require github.com/golang/snappy v0.0.4 // indirect
