"""Small helpers for tests (and the benches): waiting on a condition with a
deadline, stopping a child's process group, a self-signed certificate, corpus
access."""
import contextlib
import csv
import os
import signal
import subprocess
import sys
import time

CORPUS = os.path.join(os.path.dirname(__file__), "corpus")


def wait_until(condition, timeout=30.0, interval=0.05, message="condition"):
    """Poll `condition()` until it returns something truthy; fail at the deadline.

    Returns what the condition returned. Used wherever a test waits on work
    done by another process or greenthread: never a bare sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def stop_process_groups(procs, sig=signal.SIGTERM, timeout=30.0):
    """Stop children started with `start_new_session=True`, each with the
    process group it leads: `sig` to every group at once, then up to `timeout`
    seconds (for all of them) for the leaders to exit; a group whose leader is
    still there then gets SIGKILL. Whatever is left of each group after its
    leader went (sandbox children, gunicorn workers) is killed too: nothing a
    test started may outlive it. Returns the procs that ignored `sig`."""
    procs = list(procs)
    for proc in procs:
        _signal_group(proc, sig)
    deadline = time.monotonic() + timeout
    ignored = []
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            ignored.append(proc)
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        finally:
            _signal_group(proc, signal.SIGKILL)  # the group's leftovers
    return ignored


def stop_process_group(proc, sig=signal.SIGTERM, timeout=30.0):
    """stop_process_groups for one child; True if it ended on `sig`."""
    return not stop_process_groups([proc], sig, timeout)


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:  # the leader and all of its group are gone
        pass


@contextlib.contextmanager
def jobs_processes(service, env, rabbit_config, rabbit_manager, log_dir, count=2):
    """`count` `nameko run` processes of `service` (e.g. a test's slowed
    JobsService; a list runs several services in each process) on one RPC
    queue, with `env`; yields once all consume, and stops their process
    groups afterwards."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    nameko = os.path.join(os.path.dirname(sys.executable), "nameko")
    procs = []
    for n in range(count):
        with open(os.path.join(log_dir, f"jobs{n}.log"), "wb") as log:
            procs.append(subprocess.Popen(
                [nameko, "run", "--config", "config.yaml",
                 *([service] if isinstance(service, str) else service)], cwd=root,
                env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True))

    def consumers():
        for n, proc in enumerate(procs):
            with open(os.path.join(log_dir, f"jobs{n}.log")) as log:
                assert proc.poll() is None, log.read()[-3000:]
        try:
            return rabbit_manager.get_queue(rabbit_config["vhost"], "rpc-jobs")["consumers"]
        except Exception:  # not declared yet
            return 0
    try:
        wait_until(lambda: consumers() == count, timeout=90,
                   message=f"{count} jobs processes consuming")
        yield procs
    finally:
        stop_process_groups(procs)


def self_signed_certificate(folder, name="127.0.0.1"):
    """A certificate for `name` (a host name or an IP address) signed by its
    own key, and that key: (cert_path, key_path) as strings, PEM files in
    `folder`. It is its own CA, which OpenSSL 3 wants said."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    try:
        alt_name = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        alt_name = x509.DNSName(name)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([alt_name]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    with open(cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return cert_path, key_path


def corpus_rows():
    with open(os.path.join(CORPUS, "MANIFEST.tsv"), newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def corpus_path(relative):
    return os.path.join(CORPUS, relative)


def corpus_bytes(relative):
    with open(corpus_path(relative), "rb") as handle:
        return handle.read()
