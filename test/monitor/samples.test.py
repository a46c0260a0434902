"""Checks samples.test's output: each sample's length and characters against the text file, the
prompt against the validation split (the text's last 10%), reproduction across runs, and the
sample's place in the HTML report and on the terminal."""
import html
import json
import sys

text_file, a, b, greedy, report, terminal = sys.argv[1:]
text = open(text_file).read()
vocabulary = set(text[:len(text) - round(len(text) * 0.1)])
validation = text[len(text) - round(len(text) * 0.1):]


def samples(path):
    return [r for r in map(json.loads, open(path)) if r["event"] == "sample"]


def check(name, records, steps):
    assert [r["step"] for r in records] == steps, (name, [r["step"] for r in records])
    for r in records:
        assert len(r["text"]) == 20, (name, r)
        assert set(r["text"]) <= vocabulary, (name, set(r["text"]) - vocabulary)
        assert r["prompt"] == validation[:len(r["prompt"])] and len(r["prompt"]) == 32, r
    print(f"{name}: {len(records)} samples of 20 characters from the text's vocabulary"
          + (", after the prompt from the validation split" if name == "a" else ""))


first = samples(a)
check("a", first, [2])
assert first == samples(b), "the same seed gave another sample"
print("reproduced with the same seed")
check("greedy", samples(greedy), [3])
page = open(report).read()
shown = first[0]
assert 'id="samples"' in page and html.escape(shown["text"], quote=True) in page, "report"
assert f'sample at step 2: {shown["prompt"]}|{shown["text"]}' in open(terminal).read(), "terminal"
print("shown in the report and on the terminal")
