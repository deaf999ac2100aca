"""A component host for the library form: embeds Wasmtime (the `wasmtime` PyPI package,
its C API), instantiates mtls_wasi.wasm with WASI p2 and network access, opens a
`mtls:client/api` session from a config record and calls `request` on it.

usage: python3 host.py COMPONENT BASE_URL CLIENT_ID API_KEY CERT_PEM KEY_PEM CA_PEM PATH...

Prints one line per PATH: `ok STATUS BODY` or `err CASE MESSAGE`, then
`connections N`. A bad identity is checked first: `open-err CASE MESSAGE`.

Note: with wasmtime-py 50.0.1, `wasi_config_inherit_network` grants name lookup but not
connect for p2 components (connect fails with `access-denied`); the full network flow is
tested with the wasmtime CLI instead.
Called by tests/wasi_component.rs; exits non-zero only when the host itself fails.
"""

import sys

import wasmtime
from wasmtime import component as cm
from wasmtime import _ffi as ffi

API = "mtls:client/api@0.1.0"


def record(**fields):
    r = cm.Record()
    for k, v in fields.items():
        setattr(r, k.replace("_", "-"), v)
    return r


def main():
    wasm, base_url, client_id, api_key, cert, key, ca, *paths = sys.argv[1:]
    read = lambda p: open(p, "rb").read()

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.inherit_stderr()
    # Not wrapped by the Python API yet; the C API has it.
    ffi.wasi_config_inherit_network(wasi.ptr())
    ffi.wasi_config_allow_ip_name_lookup(wasi.ptr(), True)
    store.set_wasi(wasi)
    linker = cm.Linker(engine)
    linker.add_wasip2()
    instance = linker.instantiate(store, cm.Component.from_file(engine, wasm))

    api = instance.get_export_index(store, API)
    func = lambda name: instance.get_func(store, instance.get_export_index(store, name, api))
    open_ = func("[static]session.open")
    request = func("[method]session.request")
    connections = func("[method]session.connections")

    def config(identity):
        return record(
            base_url=base_url,
            client_id=client_id,
            api_key=api_key,
            identity=identity,
            # `ca` is pem(list<u8>) | base64(string): wasmtime-py passes such a variant
            # untagged, by Python type (bytes -> pem).
            ca=read(ca),
            timeout_ms=10_000,
        )

    # A certificate that does not go with the key: refused before any traffic.
    bad = cm.Variant("pem", record(cert=read(ca), key=read(key), passphrase=None))
    # wasmtime-py passes a `result` untagged when its two sides have different Python types
    # (as here): the `error` variant comes back as a tagged Variant, `ok` as itself.
    def describe(err):
        return f"{err.tag} {getattr(err.payload, 'message', '')}"

    result = open_(store, config(bad))
    open_.post_return(store)
    assert isinstance(result, cm.Variant), result
    print(f"open-err {describe(result)}")

    good = cm.Variant("pem", record(cert=read(cert), key=read(key), passphrase=None))
    session = open_(store, config(good))
    open_.post_return(store)
    if isinstance(session, cm.Variant):
        sys.exit(f"open failed: {describe(session)}")
    for path in paths:
        result = request(store, session, "GET", path, [("Accept", "application/json")], None)
        request.post_return(store)
        if isinstance(result, cm.Variant):
            print(f"err {describe(result)}")
        else:
            print(f"ok {result.status} {result.body.decode()}")
    n = connections(store, session)
    connections.post_return(store)
    print(f"connections {n}")


if __name__ == "__main__":
    main()
