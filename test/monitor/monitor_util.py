"""Checks of nnrun's monitoring output, written independently of the C++ sinks: a CRC32C and
protobuf reader for TensorBoard event files, a JSON-lines reader, the report's SVG polylines, and
a PNG decoder for Chromium's screenshot of the report.

  monitor_util.py check-files DIR EPOCHS STEPS_PER_EPOCH   DIR/{m.jsonl,tb/,r.html}
  monitor_util.py finite DUMP_DIR                          every dumped parameter is finite
  monitor_util.py screenshot REPORT.html SHOT.png          render in headless Chromium, check
"""
import glob
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def fields(data):
    """(field, wire type, value) of a protobuf message."""
    i = 0
    while i < len(data):
        key, i = varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        elif wire == 2:
            n, i = varint(data, i)
            value, i = data[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wire)
        yield field, wire, value


def varint(data, i):
    value, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def read_events(path):
    data, events, at = open(path, "rb").read(), [], 0
    while at < len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        (length_crc,) = struct.unpack_from("<I", data, at + 8)
        assert length_crc == masked(crc32c(data[at:at + 8])), "length CRC at %d" % at
        body = data[at + 12:at + 12 + length]
        (body_crc,) = struct.unpack_from("<I", data, at + 12 + length)
        assert body_crc == masked(crc32c(body)), "data CRC at %d" % at
        event = {"scalars": {}}
        for field, wire, value in fields(body):
            if field == 1:
                event["wall_time"] = struct.unpack("<d", value)[0]
            elif field == 2:
                event["step"] = value
            elif field == 3:
                event["file_version"] = value.decode()
            elif field == 5:
                for _, _, v in fields(value):
                    tag, number = None, None
                    for f, _, x in fields(v):
                        if f == 1:
                            tag = x.decode()
                        elif f == 2:
                            number = struct.unpack("<f", x)[0]
                    event["scalars"][tag] = number
        events.append(event)
        at += 12 + length + 4
    return events


def polylines(html):
    return {m.group(1): len(m.group(2).split()) for m in re.finditer(
        r'data-series="([^"]+)"[^>]*points="([^"]*)"', html)}


def check_files(out, epochs, steps):
    epochs, steps = int(epochs), int(steps)
    total = epochs * steps
    records = [json.loads(line) for line in open(out + "/m.jsonl")]
    kinds = [r["event"] for r in records]
    step_records = [r for r in records if r["event"] == "step"]
    assert [r["step"] for r in step_records] == list(range(1, total + 1)), "steps"
    assert all(r["grad_norm"] > 0 and r["lr"] > 0 and r["rss_bytes"] > 0 for r in step_records)
    evals = [r for r in records if r["event"] == "eval"]
    assert [e["split"] for e in evals] == ["val"] * epochs + ["test"], kinds
    for e in evals:
        confusion = e["confusion"]
        assert sum(map(sum, confusion)) == e["examples"], "confusion sums to the examples"
        right = sum(confusion[c][c] for c in range(len(confusion)))
        assert abs(right / e["examples"] - e["accuracy"]) < 1e-6, "accuracy is the diagonal"
        for c, row in enumerate(e["per_class"]):
            tp, support = confusion[c][c], sum(confusion[c])
            predicted = sum(r[c] for r in confusion)
            assert row["support"] == support
            assert abs(row["recall"] - (tp / support if support else 0)) < 1e-6
            assert abs(row["precision"] - (tp / predicted if predicted else 0)) < 1e-6
        assert len(e["worst"]) == min(12, e["examples"] - right), "the 12 worst mistakes"
        probabilities = [w["probability"] for w in e["worst"]]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(w["label"] != w["predicted"] for w in e["worst"])
    assert kinds.count("epoch") == epochs
    print("PASS jsonl: %d steps, %d evaluations, %d epochs" % (total, len(evals), epochs))

    files = glob.glob(out + "/tb/*/events.out.tfevents.*")  # one directory per run
    assert len(files) == 1, files
    events = read_events(files[0])
    assert events[0]["file_version"] == "brain.Event:2"
    losses = [e["scalars"]["train/loss"] for e in events if "train/loss" in e["scalars"]]
    assert len(losses) == total
    for e, r in zip([e for e in events if "train/loss" in e["scalars"]], step_records):
        assert e["step"] == r["step"]
        assert abs(e["scalars"]["train/loss"] - r["loss"]) <= 1e-6 * abs(r["loss"])
    assert len([e for e in events if "val/loss" in e["scalars"]]) == epochs
    print("PASS tensorboard: %d records, CRCs and framing" % len(events))

    counts = polylines(open(out + "/r.html").read())
    print("PASS report: " + ", ".join("%s %d" % kv for kv in sorted(counts.items())))


def finite(dump):
    import numpy as np
    bad = [f for f in sorted(os.listdir(dump))
           if f.endswith(".npy") and not np.isfinite(np.load(os.path.join(dump, f))).all()]
    print("PASS finite" if not bad else "FAIL non-finite: " + ", ".join(bad))


def decode_png(path):
    """RGB(A) 8-bit non-interlaced PNG -> (width, height, channels, rows of bytes)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat = 8, b""
    while at < len(data):
        (length,) = struct.unpack_from(">I", data, at)
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color)
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    channels = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = prev[x], prev[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


SERIES_COLORS = {  # HtmlReport.h's series colors, one per plot line
    "train-loss": (0x1F, 0x77, 0xB4), "val-loss": (0xFF, 0x7F, 0x0E),
    "val-accuracy": (0x2C, 0xA0, 0x2C), "lr": (0x94, 0x67, 0xBD),
    "grad-norm": (0xD6, 0x27, 0x28), "confusion max cell": (0x08, 0x30, 0x6B),
}


def screenshot(report, shot):
    chromium = shutil.which("chromium")
    if not chromium:
        print("SKIP: chromium is not installed (scripts/setup.sh installs Debian's chromium)")
        return
    html = open(report).read()
    counts = polylines(html)
    for series in ("train-loss", "val-loss", "val-accuracy", "lr", "grad-norm"):
        print("polyline %s %d" % (series, counts.get(series, -1)))
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--window-size=1200,2600",
                    "--screenshot=" + shot, "file://" + os.path.abspath(report)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    width, height, channels, rows = decode_png(shot)
    found = {name: 0 for name in SERIES_COLORS}
    background = 0
    for row in rows:
        for x in range(0, width * channels, channels):
            pixel = (row[x], row[x + 1], row[x + 2])
            if pixel == (255, 255, 255):
                background += 1
                continue
            for name, color in SERIES_COLORS.items():
                if all(abs(p - q) <= 12 for p, q in zip(pixel, color)):
                    found[name] += 1
    drawn = 1 - background / (width * height)
    print("screenshot %dx%d, %.0f%% non-background" % (width, height, 100 * drawn))
    for name, n in found.items():
        print("%s: %s" % (name, "drawn" if n >= 30 else "MISSING (%d pixels)" % n))


if __name__ == "__main__":
    {"check-files": check_files, "finite": finite,
     "screenshot": screenshot}[sys.argv[1]](*sys.argv[2:])
