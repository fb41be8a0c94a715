// Command etcd runs the etcd server from the go.etcd.io/etcd/server/v3 module.
//
// etcd's own main package lives in a module with local replace directives,
// which `go build` refuses outside its repository, so this wrapper calls the
// same entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
