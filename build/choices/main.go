// Command choices prints the page's menus and defaults (engine.Choices) as JSON:
//
//	go run ./build/choices
//
// build/site.sh puts them in assets.json, so the page's worker hands them over as soon as
// it has the asset list, without waiting for the engine to start (a first visit runs the
// engine's code from the browser's baseline compiler, where the JSON took 15-35 ms).
package main

import (
	"fmt"
	"os"

	"github.com/austen-diffusion/textdiffusion/core/engine"
)

func main() {
	if len(os.Args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: choices (no arguments): prints the page's engine.Choices as JSON")
		os.Exit(2)
	}
	fmt.Println(engine.ChoicesJSON())
}
