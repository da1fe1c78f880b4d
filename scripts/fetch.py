#!/usr/bin/python3
"""fetch — fills the project tree with the models and data of scripts/fetch.manifest (`make models`).

Each row names a destination, its path under a mirror directory, its public URL, its sha256
and optionally how it is cut from the downloaded source. When $CARVE_MIRROR is set (CI's
.ci/run points it at ../shared) the file is copied from $CARVE_MIRROR/<mirror-path>;
otherwise the URL is downloaded with curl (once per run, however many rows cut from it) and
cut. Either way the destination's sha256 must match the manifest, so a wrong source, a wrong
cut or a damaged mirror fails loudly. A destination already present with the right checksum
is kept. Files are written to a temporary name and renamed when checked: a failure leaves
nothing half-written. Errors are one line on stderr, exit status 2.

  scripts/fetch.py [--root DIR] [--manifest FILE] [DEST-PREFIX ...]

DEST-PREFIX limits the run to the rows whose destination starts with it (e.g. data/).
"""
import bz2
import gzip
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


class FetchError(Exception):
    pass


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(path):
    """Rows (line number, dest, mirror path, url, sha256, cut) of a manifest file."""
    rows = []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise FetchError(f"{path}: cannot read the manifest ({e.strerror})")
    for n, line in enumerate(lines, 1):
        f = line.split("#", 1)[0].split()
        if not f:
            continue
        if len(f) not in (4, 5):
            raise FetchError(f"{path}:{n}: expected 4 or 5 columns (destination mirror-path url sha256 [cut]), got {len(f)}")
        dest, mirror, url, sha = f[:4]
        cut = f[4] if len(f) == 5 else "-"
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise FetchError(f"{path}:{n}: '{sha}' is not a sha256 (64 lowercase hex digits)")
        if os.path.isabs(dest) or ".." in dest.split("/"):
            raise FetchError(f"{path}:{n}: destination '{dest}' must be a relative path inside the project")
        check_cut(cut, f"{path}:{n}")
        rows.append((n, dest, mirror, url, sha, cut))
    return rows


# --- cuts: how a destination is made from its downloaded source (bytes -> bytes) ---

def cut_bytes(data, off, length):
    if off + length > len(data):
        raise FetchError(f"the source has {len(data)} bytes, the cut needs {off + length}")
    return data[off:off + length]


def cut_stories(data, off, length):
    # a TinyStories .txt: stories separated by <|endoftext|>; each stripped, empty ones
    # dropped, joined by one blank line; then the byte range
    stories = (s.strip() for s in data.split(b"<|endoftext|>"))
    return cut_bytes(b"\n\n".join(s for s in stories if s), off, length)


def cut_zip(data, member):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return z.read(member)
    except KeyError:
        raise FetchError(f"the zip archive has no member '{member}'")
    except zipfile.BadZipFile as e:
        raise FetchError(f"not a zip archive ({e})")


def decompress(fn):
    def cut(data):
        try:
            return fn(data)
        except (OSError, EOFError, ValueError) as e:
            raise FetchError(f"cannot decompress ({e})")
    return cut


# name -> (argument kinds, function); "-" keeps the download as it is
CUTS = {
    "-": ((), lambda d: d),
    "bytes": ((int, int), cut_bytes),
    "stories": ((int, int), cut_stories),
    "zip": ((str,), cut_zip),
    "bz2": ((), decompress(bz2.decompress)),
    "gz": ((), decompress(gzip.decompress)),
    "bz2c": ((), lambda d: bz2.compress(d, 9)),  # compressed as `bzip2 -9` does (same bytes)
}


def parse_cut(cut):
    name, *args = cut.split(":") if cut != "-" else ["-"]
    if name == "zip" and args:  # a member name may itself contain ':'
        args = [":".join(args)]
    if name not in CUTS:
        raise FetchError(f"unknown cut '{name}' (known: {', '.join(sorted(CUTS))})")
    kinds, fn = CUTS[name]
    if len(args) != len(kinds):
        raise FetchError(f"cut '{cut}': '{name}' takes {len(kinds)} argument(s)")
    try:
        vals = [k(a) for k, a in zip(kinds, args)]
    except ValueError:
        raise FetchError(f"cut '{cut}': bad argument")
    if any(isinstance(v, int) and v < 0 for v in vals):
        raise FetchError(f"cut '{cut}': negative offset or length")
    return fn, vals


def check_cut(cut, where):
    try:
        parse_cut(cut)
    except FetchError as e:
        raise FetchError(f"{where}: {e}")


def download(url, tmpdir, cache):
    """The bytes at url (curl; cached for this run)."""
    if url in cache:
        return cache[url]
    out = os.path.join(tmpdir, f"download{len(cache)}")
    try:
        r = subprocess.run(["curl", "-fsSL", "--retry", "3", "--connect-timeout", "30", "-o", out, url],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise FetchError(f"cannot download {url}: curl is not installed (make deps)")
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or [f"curl exit status {r.returncode}"])[-1]
        raise FetchError(f"cannot download {url}: {why}")
    with open(out, "rb") as f:
        cache[url] = f.read()
    os.unlink(out)
    return cache[url]


def fetch_row(root, row, mirror, tmpdir, cache):
    n, dest, mpath, url, sha, cut = row
    out = os.path.join(root, dest)
    if os.path.isfile(out) and sha256_of(out) == sha:
        return "present"
    if mirror:
        src = os.path.join(mirror, mpath)
        if not os.path.isfile(src):
            raise FetchError(f"{src}: not found in the mirror (CARVE_MIRROR={mirror})")
        with open(src, "rb") as f:
            data = f.read()
        how = f"copied from {src}"
    else:
        fn, args = parse_cut(cut)
        try:
            source = download(url, tmpdir, cache)
        except FetchError as e:
            raise FetchError(f"{e} (needed for {dest}; or set CARVE_MIRROR to a directory holding {mpath})")
        try:
            data = fn(source, *args)
        except FetchError as e:
            raise FetchError(f"{dest}: cut '{cut}' of {url}: {e}")
        how = f"downloaded from {url}" + ("" if cut == "-" else f" ({cut})")
    got = hashlib.sha256(data).hexdigest()
    if got != sha:
        raise FetchError(f"{dest}: sha256 mismatch ({how}: got {got}, expected {sha})")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return how


def main(argv):
    root = os.path.dirname(HERE)
    manifest = os.path.join(HERE, "fetch.manifest")
    prefixes = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--root", "--manifest") and i + 1 < len(argv):
            if a == "--root":
                root = argv[i + 1]
            else:
                manifest = argv[i + 1]
            i += 2
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        elif a.startswith("-"):
            print(f"fetch: unknown option '{a}'", file=sys.stderr)
            return 1
        else:
            prefixes.append(a)
            i += 1
    mirror = os.environ.get("CARVE_MIRROR", "")
    try:
        rows = [r for r in read_manifest(manifest) if not prefixes or any(r[1].startswith(p) for p in prefixes)]
        if prefixes and not rows:
            raise FetchError(f"{manifest}: no destination starts with {' or '.join(prefixes)}")
        if mirror and not os.path.isdir(mirror):
            raise FetchError(f"CARVE_MIRROR={mirror}: not a directory")
        cache = {}
        with tempfile.TemporaryDirectory(prefix="carve-fetch.") as tmpdir:
            for row in rows:
                print(f"fetch: {row[1]}: {fetch_row(root, row, mirror, tmpdir, cache)}", flush=True)
    except FetchError as e:
        print(f"fetch: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"fetch: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
