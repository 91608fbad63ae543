#!/usr/bin/python3
"""packaging/kubernetes/daemonset.yaml against what the podman test proves.

  check_daemonset.py REPO_DIR

tests/integration/container/podman_test.sh runs the image with exactly the flags of
packaging/container/runtime.json; this checks that the DaemonSet asks for the same and no
more: capabilities, the seccomp profile (the same file, as a Localhost profile), the
read-only host mounts, no host network, PID or IPC namespace, not privileged, the image's
user and configuration path, the port (container port, probes, scrape annotations and the
PodMonitor). No root and no cluster: the files only.
"""
import json
import pathlib
import re
import shlex
import sys

import yaml

failures = []


def expect(what, got, want):
    if got != want:
        failures.append(f"{what}: manifest has {got!r}, the podman test proves {want!r}")


def podman_flags(args):
    """The flags of runtime.json's podman_run, as {flag: [values]}."""
    flags = {}
    it = iter(args)
    for arg in it:
        if "=" in arg:
            name, value = arg.split("=", 1)
        else:
            name, value = arg, next(it)
        flags.setdefault(name, []).append(value)
    return flags


def main(repo):
    repo = pathlib.Path(repo)
    runtime = json.loads((repo / "packaging/container/runtime.json").read_text())
    docs = list(yaml.safe_load_all((repo / "packaging/kubernetes/daemonset.yaml").read_text()))
    by_kind = {d["kind"]: d for d in docs if d}
    ds = by_kind["DaemonSet"]
    pod = ds["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    sc = container.get("securityContext", {})
    flags = podman_flags(runtime["podman_run"])
    known = {"--cgroupns", "--cap-drop", "--cap-add", "--security-opt", "-v"}
    expect("podman flags the check knows", set(flags) - known, set())

    # Namespaces: the pod's own network, PID, IPC and cgroup namespaces.
    expect("--cgroupns", flags["--cgroupns"], ["private"])
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        expect(key, pod.get(key, False), False)
    expect("privileged", sc.get("privileged", False), False)

    # Capabilities.
    expect("capabilities.drop", sc["capabilities"]["drop"], ["ALL"])
    expect("--cap-drop", flags["--cap-drop"], ["ALL"])
    added = [c.removeprefix("CAP_") for c in flags["--cap-add"][0].split(",")]
    expect("capabilities.add", sorted(sc["capabilities"]["add"]), sorted(added))

    # seccomp: the same profile file, installed where kubelet looks.
    (seccomp,) = [o.split("=", 1)[1] for o in flags["--security-opt"] if o.startswith("seccomp=")]
    profile = sc.get("seccompProfile") or pod.get("securityContext", {}).get("seccompProfile")
    expect("seccompProfile.type", profile and profile.get("type"), "Localhost")
    expect("seccompProfile.localhostProfile", profile and profile.get("localhostProfile"),
           "tcpconnect-exporter/" + pathlib.PurePath(seccomp).name)
    if not (repo / seccomp).is_file():
        failures.append(f"{seccomp}: missing")
    text = (repo / "packaging/kubernetes/daemonset.yaml").read_text()
    install = f"/var/lib/kubelet/seccomp/{profile and profile.get('localhostProfile')}"
    if install not in text:
        failures.append(f"the manifest does not say how to install {seccomp} as {install}")

    # Host mounts: exactly the podman test's, read-only on both sides.
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    host_mounts = set()
    for m in container.get("volumeMounts", []):
        v = volumes[m["name"]]
        if "hostPath" in v:
            if not m.get("readOnly"):
                failures.append(f"hostPath {v['hostPath']['path']} is mounted writable")
            host_mounts.add((v["hostPath"]["path"], m["mountPath"], "ro"))
    proven = {tuple(v.split(":")) for v in flags["-v"]}
    expect("hostPath mounts", sorted(host_mounts), sorted(proven))

    # The image's user, and no command or args in place of its entrypoint.
    psc = pod.get("securityContext", {})
    expect("runAsUser", sc.get("runAsUser", psc.get("runAsUser")), runtime["user"])
    expect("runAsNonRoot", sc.get("runAsNonRoot", psc.get("runAsNonRoot")), True)
    # File capabilities are granted at exec only without no_new_privs.
    expect("allowPrivilegeEscalation", sc.get("allowPrivilegeEscalation", True), True)
    expect("command", container.get("command"), None)
    args = container.get("args", [])
    if any(a.startswith("--config.file") for a in args):
        failures.append("args name another --config.file than the image's entrypoint")

    # The configuration: the ConfigMap's config.yaml at the path the entrypoint reads.
    config = pathlib.PurePath(runtime["config_file"])
    config_mounts = [m for m in container["volumeMounts"] if "configMap" in volumes[m["name"]]]
    expect("ConfigMap mount", [(m["mountPath"], m.get("readOnly")) for m in config_mounts],
           [(str(config.parent), True)])
    cm_data = by_kind["ConfigMap"]["data"]
    expect("ConfigMap keys", list(cm_data), [config.name])
    listen = yaml.safe_load(cm_data[config.name]).get("web", {}).get("listen_address", ":9476")
    expect("web.listen_address port", int(listen.rsplit(":", 1)[1]), runtime["port"])

    # The port, wherever it is named.
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expect("containerPort metrics", ports.get("metrics"), runtime["port"])
    annotations = ds["spec"]["template"]["metadata"]["annotations"]
    expect("prometheus.io/port", annotations.get("prometheus.io/port"), str(runtime["port"]))
    expect("prometheus.io/scrape", annotations.get("prometheus.io/scrape"), "true")
    for probe in ("readinessProbe", "livenessProbe"):
        p = container.get(probe)
        if not p:
            failures.append(f"{probe} missing")
            continue
        port = (p.get("httpGet") or p.get("tcpSocket") or {}).get("port")
        expect(f"{probe} port", ports.get(port, port), runtime["port"])
    pm = yaml.safe_load((repo / "packaging/kubernetes/podmonitor.yaml").read_text())
    expect("PodMonitor selector", pm["spec"]["selector"]["matchLabels"],
           ds["spec"]["selector"]["matchLabels"])
    expect("PodMonitor port", [e["port"] for e in pm["spec"]["podMetricsEndpoints"]],
           ["metrics"])

    # Resources: requests and limits set (their figures come from the podman test).
    res = container.get("resources", {})
    for part, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
        for key in keys:
            if key not in res.get(part, {}):
                failures.append(f"resources.{part}.{key} missing")

    # The image the build names.
    build = (repo / "scripts/build-image.sh").read_text()
    name = re.search(r"^name=(\S+)$", build, re.M).group(1)
    if not container["image"].startswith(name + ":"):
        failures.append(f"image {container['image']} is not {name}:VERSION")

    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("OK: daemonset.yaml grants what the podman test runs with:",
              shlex.join(runtime["podman_run"]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
