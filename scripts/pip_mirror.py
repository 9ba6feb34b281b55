"""Lends the host's pip mirror to an image build.

A build behind a corporate mirror, or on an air-gapped machine, gets its wheels from wherever
the host's pip gets them. This reads that configuration (`pip config list`, or explicit flags),
serves every local directory in it over HTTP on 127.0.0.1, writes a pip.conf that points at
those servers (handed to the build as a BuildKit secret, so it never enters a layer), and then
serves until it is killed. The build must run with `--network host` to reach 127.0.0.1.

    python3 scripts/pip_mirror.py --write-conf /tmp/pip.conf [--index-url URL]
        [--extra-index-url URL]... [--find-links URL_OR_DIR]... [--no-host-config]
"""
import argparse
import functools
import http.server
import os
import shlex
import subprocess
import sys
import threading
import urllib.parse

# pip settings that name package sources, as `pip config list` prints their keys.
SOURCE_KEYS = ("index-url", "extra-index-url", "find-links")


def parse_pip_config_list(text):
    """Maps `pip config list` output to {key: [values]} for the package-source keys.

    Lines look like `global.extra-index-url='file:///a file:///b'` or `:env:.find-links='/x'`;
    a value may hold several whitespace-separated entries.
    """
    sources = {key: [] for key in SOURCE_KEYS}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if not sep:
            continue
        key = name.rsplit(".", 1)[-1]
        if key not in sources:
            continue
        for entry in shlex.split(value)[0].split() if value.strip() else []:
            if entry not in sources[key]:
                sources[key].append(entry)
    return sources


def local_directory(entry):
    """Returns the local directory an index or find-links entry names, or None for a remote URL."""
    parsed = urllib.parse.urlparse(entry)
    if parsed.scheme == "file":
        return urllib.parse.unquote(parsed.path)
    if parsed.scheme == "" and os.path.isabs(entry):
        return entry
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


def serve_directory(root):
    """Serves root on an ephemeral 127.0.0.1 port in a daemon thread; returns the base URL."""
    handler = functools.partial(_QuietHandler, directory=root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d" % server.server_address[1]


def translate(sources, serve=serve_directory):
    """Rewrites local entries to loopback URLs. Indexes are served from their parent directory,
    because simple indexes commonly link wheels by relative paths that leave the index
    (`../../files/x.whl`)."""
    servers = {}

    def url_for(directory, served_root):
        if served_root not in servers:
            servers[served_root] = serve(served_root)
        relative = os.path.relpath(directory, served_root)
        path = "" if relative == "." else urllib.parse.quote(relative) + "/"
        return servers[served_root] + "/" + path

    translated = {key: [] for key in SOURCE_KEYS}
    for key, entries in sources.items():
        for entry in entries:
            directory = local_directory(entry)
            if directory is None:
                translated[key].append(entry)
            elif not os.path.isdir(directory):
                print("pip_mirror: skipping %s=%s: no such directory" % (key, entry), file=sys.stderr)
            elif key == "find-links":
                translated[key].append(url_for(directory, directory))
            else:
                parent = os.path.dirname(os.path.normpath(directory))
                translated[key].append(url_for(directory, parent))
    return translated


def render_pip_conf(sources):
    lines = ["[global]"]
    for key in SOURCE_KEYS:
        if sources.get(key):
            lines.append("%s = %s" % (key, " ".join(sources[key])))
    return "\n".join(lines) + "\n"


def host_sources():
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    return parse_pip_config_list(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-conf", required=True, help="where to write the pip.conf")
    parser.add_argument("--index-url")
    parser.add_argument("--extra-index-url", action="append", default=[])
    parser.add_argument("--find-links", action="append", default=[])
    parser.add_argument("--no-host-config", action="store_true", help="ignore `pip config list`")
    args = parser.parse_args(argv)

    sources = {key: [] for key in SOURCE_KEYS} if args.no_host_config else host_sources()
    if args.index_url:
        sources["index-url"] = [args.index_url]
    sources["extra-index-url"] += args.extra_index_url
    sources["find-links"] += args.find_links

    conf = render_pip_conf(translate(sources))
    tmp = args.write_conf + ".tmp"
    with open(tmp, "w") as f:
        f.write(conf)
    os.replace(tmp, args.write_conf)  # build.sh waits for this file to appear
    print("pip_mirror: serving\n" + conf, file=sys.stderr, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
