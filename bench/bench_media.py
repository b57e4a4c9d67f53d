"""Image pipeline benchmark: time per photo through ``MediaStore.store()`` and peak RSS.

Run by hand: ``.venv/bin/python -m bench.bench_media [--runs N] [--size 4000x3000]``.

The input is a phone-camera-like JPEG (default 4000x3000 = 12 MP, quality 92, EXIF
orientation 6 and GPS tags, so rotation and stripping are exercised).  Each mode (with and
without the ``Image.draft`` fast path) runs in its own child process so that its peak RSS
(VmHWM) is its own; every run stores into a fresh media root so the duplicate shortcut
never kicks in.  Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {"draft": True, "no-draft": False}


def make_photo(width: int, height: int) -> bytes:
    """A JPEG with camera-like detail (gradients + noise), EXIF orientation 6 and GPS."""
    from PIL import ExifTags, Image, ImageFilter

    r = Image.linear_gradient("L").resize((width, height))
    g = Image.radial_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40).filter(ImageFilter.GaussianBlur(1))
    b = Image.blend(r.rotate(90, expand=False), noise, 0.5)
    img = Image.merge("RGB", (Image.blend(r, noise, 0.3), Image.blend(g, noise, 0.3), b))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (1.0, 59.0, 30.0)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def _proc_status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(mode: str, input_path: Path, runs: int) -> None:
    from workflow.media.limits import MediaLimits
    from workflow.media.storage import MediaStore

    data = input_path.read_bytes()
    baseline_kb = _proc_status_kb("VmRSS")
    times: list[float] = []
    result = None
    with tempfile.TemporaryDirectory() as work:
        for i in range(runs + 1):  # run 0 is a warm-up
            store = MediaStore(Path(work) / f"root{i}", MediaLimits(), use_jpeg_draft=MODES[mode])
            temp = store.new_temp_path()
            temp.write_bytes(data)
            start = time.perf_counter()
            result = store.store(temp, "photo", "IMG_20250101_101010.jpg")
            if i:
                times.append(time.perf_counter() - start)
    assert result is not None
    print(
        json.dumps(
            {
                "times": times,
                "baseline_kb": baseline_kb,
                "peak_kb": _proc_status_kb("VmHWM"),
                "out": [result.width, result.height, result.size],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.input, args.runs)
        return

    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as work:
        input_path = Path(work) / "photo.jpg"
        input_path.write_bytes(make_photo(width, height))
        size_mb = input_path.stat().st_size / 1024 / 1024
        print(f"input: {width}x{height} JPEG, {size_mb:.2f} MiB, {args.runs} runs per mode")
        print(
            f"{'mode':<9} {'mean ms':>8} {'median':>8} {'min':>8} {'peak RSS':>9} "
            f"{'(+ over start)':>14}  output"
        )
        for mode in MODES:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.bench_media",
                    "--child",
                    mode,
                    "--input",
                    str(input_path),
                    "--runs",
                    str(args.runs),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            ms = [t * 1000 for t in r["times"]]
            w, h, out_size = r["out"]
            print(
                f"{mode:<9} {statistics.mean(ms):8.1f} {statistics.median(ms):8.1f} "
                f"{min(ms):8.1f} {r['peak_kb'] / 1024:7.1f}MB "
                f"{(r['peak_kb'] - r['baseline_kb']) / 1024:12.1f}MB  "
                f"{w}x{h}, {out_size / 1024:.0f} KiB"
            )


if __name__ == "__main__":
    main()
