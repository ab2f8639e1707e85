package gpu

import (
	"embed"
	"strings"
)

// The WGSL sources, one file per op; quant.wgsl and matmul.wgsl are fragments that other
// files are joined with (WGSL has no #include; override constants replace a preprocessor).
//
//go:embed shaders/*.wgsl
var shaderFS embed.FS

// shaderSource joins the named files (without the .wgsl suffix) into one module's source.
// The names are constants of this package, so a missing file is a programming error.
func shaderSource(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		src, err := shaderFS.ReadFile("shaders/" + n + ".wgsl")
		if err != nil {
			panic("gpu: missing shader " + n)
		}
		b.Write(src)
		b.WriteByte('\n')
	}
	return b.String()
}
