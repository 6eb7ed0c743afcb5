// Command deskctl runs browser-accessible Linux desktops on Kubernetes behind
// Cloudflare Zero Trust.
package main

import (
	"os"

	"github.com/deskctl/deskctl/internal/cli"
)

func main() {
	os.Exit(cli.Main())
}
