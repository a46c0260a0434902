"""Prints each pipeline stage's schedule from a plan decoded by `protoc --decode=nnc.Plan`:
one line per stage, one word per action:
  F3 / B3      forward / backward slot of micro-batch 3
  A3>1 / A3<0  activation of micro-batch 3 sent to rank 1 / received from rank 0
  G3>0 / G3<1  its gradient sent to rank 0 / received from rank 1
  U            the update (apply_step)"""
import sys

WORDS = {"FORWARD": "F{m}", "BACKWARD": "B{m}", "SEND_ACTIVATION": "A{m}>{p}",
         "RECV_ACTIVATION": "A{m}<{p}", "SEND_GRADIENT": "G{m}>{p}", "RECV_GRADIENT": "G{m}<{p}",
         "APPLY": "U"}

path, stages, action = [], [], None
for line in sys.stdin:
    line = line.strip()
    if line.endswith("{"):
        path.append(line[:-1].strip())
        if path == ["pipeline", "stages"]:
            stages.append([])
        elif path == ["pipeline", "stages", "actions"]:
            action = {"kind": "KIND_UNSET", "micro_batch": "0", "peer": "0"}
    elif line == "}":
        if path == ["pipeline", "stages", "actions"]:
            stages[-1].append(WORDS[action["kind"]].format(m=action["micro_batch"],
                                                            p=action["peer"]))
        path.pop()
    elif path == ["pipeline", "stages", "actions"] and ":" in line:
        key, value = (part.strip() for part in line.split(":", 1))
        action[key] = value
for s, words in enumerate(stages):
    print(f"stage {s}:", " ".join(words))
