#!/usr/bin/env python3
"""Writes a root filesystem directory as an image tarball in `docker save` layout.

Used by scripts/build-base-image.sh to turn the locally assembled base (jlink'ed JRE, glibc from
Debian packages, /etc/passwd with the nonroot user 65532, no shell) into a base image that Jib
accepts as `-Djib.base.image=tar://<path>`, with no registry involved.

Layout of the output (what `docker save` writes and `docker load`, Jib and kind read):
  manifest.json              [{"Config": "<hex>.json", "RepoTags": [...], "Layers": [...]}]
  <hex>.json                 the image config (architecture, os, config.Env/User, rootfs.diff_ids)
  <diff-id-hex>.tar.gz       one gzip'ed layer per --layer, in order

Deterministic: entries sorted by name, fixed mtime, owner root:root unless --owner says
otherwise, permissions normalised (dirs 0755, files 0644 or 0755 when executable, unless --mode
says otherwise), gzip with no name and mtime 0. The same tree gives the same bytes.

Standard library only.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile

# 1970-01-01T00:00:01Z, as Jib uses for files by default ("EPOCH_PLUS_SECOND").
FIXED_MTIME = 1
CREATED = "1970-01-01T00:00:01Z"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rootfs", required=True, help="directory to pack")
    p.add_argument("--out", required=True, help="image tarball to write")
    p.add_argument("--tag", default="leaderelection-base:offline", help="RepoTags entry")
    p.add_argument("--architecture", default="amd64", help="GOARCH name, e.g. amd64, arm64")
    p.add_argument("--layer", action="append", default=[], metavar="PATH",
                   help="a subtree that gets its own layer, after the rest (repeatable, in order)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="config.Env entry (repeatable)")
    p.add_argument("--user", default="", help="config.User, e.g. 65532:65532")
    p.add_argument("--owner", action="append", default=[], metavar="PATH=UID:GID",
                   help="owner of PATH (not its contents); default 0:0")
    p.add_argument("--mode", action="append", default=[], metavar="PATH=OCTAL",
                   help="permissions of PATH, e.g. tmp=1777")
    p.add_argument("--history", action="append", default=[], metavar="TEXT",
                   help="created_by of each layer, in order: the rest first, then each --layer")
    return p.parse_args(argv)


def split_kv(items, what):
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"image-base-tar: bad {what} {item!r}: expected PATH=VALUE")
        result[key.strip("/")] = value
    return result


def walk(rootfs):
    """All paths under rootfs, relative, sorted so that parents come before children."""
    paths = []
    for dirpath, dirnames, filenames in os.walk(rootfs):
        rel = os.path.relpath(dirpath, rootfs)
        for name in dirnames + filenames:
            paths.append(os.path.normpath(os.path.join(rel, name)))
    return sorted(paths, key=lambda p: p.split("/"))


def in_subtree(path, subtree):
    return path == subtree or path.startswith(subtree + "/")


def tar_info(rootfs, rel, owners, modes):
    full = os.path.join(rootfs, rel)
    st = os.lstat(full)
    info = tarfile.TarInfo(rel)
    info.mtime = FIXED_MTIME
    uid, gid = owners.get(rel, (0, 0))
    info.uid, info.gid = uid, gid
    info.uname = info.gname = ""
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(full)
        info.mode = 0o777
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    elif stat.S_ISREG(st.st_mode):
        info.type = tarfile.REGTYPE
        info.size = st.st_size
        info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    else:
        sys.exit(f"image-base-tar: {full}: not a file, directory or symlink")
    if rel in modes:
        info.mode = modes[rel]
    return info


def write_layer(rootfs, paths, owners, modes, directory):
    """Writes one gzip'ed layer; returns (file name, diff id, digest)."""
    raw = tempfile.TemporaryFile(dir=directory)
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in paths:
            info = tar_info(rootfs, rel, owners, modes)
            if info.type == tarfile.REGTYPE:
                with open(os.path.join(rootfs, rel), "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    raw.seek(0)
    diff = hashlib.sha256()
    fd, gz_path = tempfile.mkstemp(dir=directory, suffix=".tar.gz")
    with os.fdopen(fd, "wb") as out:
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
            for chunk in iter(lambda: raw.read(1 << 20), b""):
                diff.update(chunk)
                gz.write(chunk)
    raw.close()
    digest = hashlib.sha256()
    with open(gz_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    name = diff.hexdigest() + ".tar.gz"
    os.replace(gz_path, os.path.join(directory, name))
    return name, "sha256:" + diff.hexdigest(), "sha256:" + digest.hexdigest()


def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = FIXED_MTIME
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def main(argv):
    args = parse_args(argv)
    rootfs = os.path.abspath(args.rootfs)
    owners = {}
    for path, value in split_kv(args.owner, "--owner").items():
        uid, _, gid = value.partition(":")
        owners[path] = (int(uid), int(gid or uid))
    modes = {path: int(value, 8) for path, value in split_kv(args.mode, "--mode").items()}
    subtrees = [s.strip("/") for s in args.layer]

    paths = walk(rootfs)
    groups = [[p for p in paths if not any(in_subtree(p, s) for s in subtrees)]]
    for s in subtrees:
        groups.append([p for p in paths if in_subtree(p, s)])
    if any(not g for g in groups):
        sys.exit("image-base-tar: a layer would be empty; check --layer and --rootfs")

    out_dir = os.path.dirname(os.path.abspath(args.out))
    with tempfile.TemporaryDirectory(dir=out_dir) as work:
        layers = [write_layer(rootfs, g, owners, modes, work) for g in groups]
        history = args.history + [""] * (len(layers) - len(args.history))
        config = {
            "architecture": args.architecture,
            "os": "linux",
            "created": CREATED,
            "config": {"Env": args.env, "User": args.user},
            "rootfs": {"type": "layers", "diff_ids": [diff for _, diff, _ in layers]},
            "history": [{"created": CREATED, "created_by": h} for h in history[:len(layers)]],
        }
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        manifest = [{"Config": config_name, "RepoTags": [args.tag],
                     "Layers": [name for name, _, _ in layers]}]
        manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()

        fd, tmp_out = tempfile.mkstemp(dir=out_dir, suffix=".tar.tmp")
        os.close(fd)
        with tarfile.open(tmp_out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            add_bytes(tar, config_name, config_bytes)
            for name, _, _ in layers:
                info = tar.gettarinfo(os.path.join(work, name), arcname=name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "", ""
                info.mode = 0o644
                with open(os.path.join(work, name), "rb") as f:
                    tar.addfile(info, f)
            add_bytes(tar, "manifest.json", manifest_bytes)
        os.replace(tmp_out, args.out)

    total = sum(os.path.getsize(os.path.join(rootfs, p)) for p in paths
                if os.path.isfile(os.path.join(rootfs, p))
                and not os.path.islink(os.path.join(rootfs, p)))
    print(f"image-base-tar: {args.out}: {len(layers)} layers, {len(paths)} entries,"
          f" {total / 1e6:.1f} MB unpacked, {os.path.getsize(args.out) / 1e6:.1f} MB tarball")
    for (name, diff, digest), h in zip(layers, history):
        print(f"  layer {diff[:19]} {h}")


if __name__ == "__main__":
    main(sys.argv[1:])
