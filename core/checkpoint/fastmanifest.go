package checkpoint

import "github.com/austen-diffusion/textdiffusion/core/internal/jsoncut"

// cutTokenizer takes a manifest's top-level "tokenizer" string out of it (jsoncut: a
// release file's manifest is mostly that string, a whole tokenizer.json with nearly every
// quote escaped) and returns the manifest with that value replaced by "" and the string
// decoded. ok is false, and the caller decodes the manifest whole, wherever this might
// not read the member as encoding/json would (jsoncut.Member, jsoncut.Unquote) or the
// member is not a string.
func cutTokenizer(manifest []byte) (rest []byte, tokenizer string, ok bool) {
	start, end, ok := jsoncut.Member(manifest, "tokenizer")
	if !ok || manifest[start] != '"' {
		return nil, "", false
	}
	if tokenizer, ok = jsoncut.Unquote(manifest[start+1 : end-1]); !ok {
		return nil, "", false
	}
	rest = make([]byte, 0, len(manifest)-(end-start)+2)
	rest = append(append(append(rest, manifest[:start]...), `""`...), manifest[end:]...)
	return rest, tokenizer, true
}
