# Run from core/tokenizer: python3 testdata/gen_pretok.py
# Generates testdata/pretok_golden.json: the GPT-2 pre-tokenizer pattern, with its
# Unicode classes spelled out for the small alphabet used, applied by Python's re.
import json, random, re
L = "A-Za-zé"
N = "0-9²"
S = " \t\n\r\f\v\u00a0\u2003"
pat = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[%s]+| ?[%s]+| ?[^%s%s%s]+|[%s]+(?![^%s])|[%s]+" % (L, N, S, L, N, S, S, S))
alpha = list("aBzse'tmdlrv09 \n\t!.,_-é²’—\u00a0\u2003\r") + ["  ", "'s", "'ll", "'re", "'ve", " \n", "\n\n", "'S"]
rng = random.Random(1)
cases = []
for n in range(400):
    s = "".join(rng.choice(alpha) for _ in range(rng.randint(0, 24)))
    parts = pat.findall(s)
    assert "".join(parts) == s, (s, parts)
    cases.append({"text": s, "pieces": parts})
with open("testdata/pretok_golden.json", "w") as f:
    f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n")
