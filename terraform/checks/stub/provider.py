#!/usr/bin/env python3
"""A schema-only Terraform provider, for validating modules where no provider binary exists.

Terraform learns a provider's resource types and their arguments only from the running provider
(the plugin protocol's GetProviderSchema call), and both `terraform validate` and `terraform
test` with `mock_provider` need that schema. The real binaries come from a registry the CI
machines cannot reach, so this program stands in for one: it speaks plugin protocol 6 over
go-plugin's gRPC transport and answers with a schema derived from the provider's published
artifacts (checks/schemas/*.json, in the shape of `terraform providers schema -json`).

What it does not do: it never plans, applies or reads anything. Every such call is answered with
an error, so a test that forgets `mock_provider` fails loudly instead of passing. Provider-side
validation (enum values, conflicting arguments, API rules) is not reproduced: the stub accepts
every configuration the schema allows, and Terraform itself checks the schema (unknown and
misspelled arguments, missing required ones, types, block counts, computed-only attributes).

Usage (written as the provider executable by check.sh): provider.py SCHEMA.json PROVIDER_SOURCE
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import sys
import tempfile
import threading
from concurrent import futures

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tf.gen import grpc_controller_pb2 as controller_pb
from tf.gen import grpc_controller_pb2_grpc as controller_rpc
from tf.gen import tfplugin_pb2 as pb
from tf.gen import tfplugin_pb2_grpc as rpc

# go-plugin's handshake: Terraform sets this cookie so a provider run by hand says what it is.
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"

BLOCK_NESTING = {
    "single": pb.Schema.NestedBlock.SINGLE,
    "list": pb.Schema.NestedBlock.LIST,
    "set": pb.Schema.NestedBlock.SET,
    "map": pb.Schema.NestedBlock.MAP,
    "group": pb.Schema.NestedBlock.GROUP,
}
OBJECT_NESTING = {
    "single": pb.Schema.Object.SINGLE,
    "list": pb.Schema.Object.LIST,
    "set": pb.Schema.Object.SET,
    "map": pb.Schema.Object.MAP,
}
NOT_SUPPORTED = (
    "schema-only stub provider: it validates configuration against the provider's schema but "
    "cannot plan, apply or read; use mock_provider in terraform test"
)


def attribute(name: str, a: dict) -> pb.Schema.Attribute:
    out = pb.Schema.Attribute(
        name=name,
        description=a.get("description", ""),
        required=bool(a.get("required")),
        optional=bool(a.get("optional")),
        computed=bool(a.get("computed")),
        sensitive=bool(a.get("sensitive")),
    )
    if "nested_type" in a:
        nested = a["nested_type"]
        out.nested_type.CopyFrom(
            pb.Schema.Object(
                attributes=[attribute(n, x) for n, x in sorted(nested["attributes"].items())],
                nesting=OBJECT_NESTING[nested["nesting_mode"]],
            )
        )
    else:
        # The wire carries a type as cty's JSON spelling, the same as the schema document's.
        out.type = json.dumps(a["type"]).encode()
    return out


def block(b: dict) -> pb.Schema.Block:
    return pb.Schema.Block(
        attributes=[attribute(n, a) for n, a in sorted(b.get("attributes", {}).items())],
        block_types=[
            pb.Schema.NestedBlock(
                type_name=n,
                block=block(nb["block"]),
                nesting=BLOCK_NESTING[nb["nesting_mode"]],
                min_items=nb.get("min_items", 0),
                max_items=nb.get("max_items", 0),
            )
            for n, nb in sorted(b.get("block_types", {}).items())
        ],
    )


def schema(s: dict) -> pb.Schema:
    return pb.Schema(version=s.get("version", 0), block=block(s.get("block", {})))


def error(summary: str) -> list[pb.Diagnostic]:
    return [pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=summary)]


class Provider(rpc.ProviderServicer):
    def __init__(self, doc: dict):
        self.provider = schema(doc.get("provider", {}))
        self.resources = {t: schema(s) for t, s in doc.get("resource_schemas", {}).items()}
        self.data_sources = {t: schema(s) for t, s in doc.get("data_source_schemas", {}).items()}

    def GetMetadata(self, request, context):
        return pb.GetMetadata.Response(
            resources=[pb.GetMetadata.ResourceMetadata(type_name=t) for t in self.resources],
            data_sources=[pb.GetMetadata.DataSourceMetadata(type_name=t) for t in self.data_sources],
        )

    def GetProviderSchema(self, request, context):
        return pb.GetProviderSchema.Response(
            provider=self.provider,
            resource_schemas=self.resources,
            data_source_schemas=self.data_sources,
        )

    def ValidateProviderConfig(self, request, context):
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request, context):
        return pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request, context):
        return pb.ValidateDataResourceConfig.Response()

    def ConfigureProvider(self, request, context):
        return pb.ConfigureProvider.Response()

    def StopProvider(self, request, context):
        return pb.StopProvider.Response()

    def GetFunctions(self, request, context):
        return pb.GetFunctions.Response()

    def UpgradeResourceState(self, request, context):
        return pb.UpgradeResourceState.Response(diagnostics=error(NOT_SUPPORTED))

    def ReadResource(self, request, context):
        return pb.ReadResource.Response(diagnostics=error(NOT_SUPPORTED))

    def PlanResourceChange(self, request, context):
        return pb.PlanResourceChange.Response(diagnostics=error(NOT_SUPPORTED))

    def ApplyResourceChange(self, request, context):
        return pb.ApplyResourceChange.Response(diagnostics=error(NOT_SUPPORTED))

    def ImportResourceState(self, request, context):
        return pb.ImportResourceState.Response(diagnostics=error(NOT_SUPPORTED))

    def ReadDataSource(self, request, context):
        return pb.ReadDataSource.Response(diagnostics=error(NOT_SUPPORTED))


class Controller(controller_rpc.GRPCControllerServicer):
    def __init__(self, stop):
        self.stop = stop

    def Shutdown(self, request, context):
        self.stop()
        return controller_pb.Empty()


def certificate() -> tuple[bytes, bytes, bytes]:
    """A throwaway self-signed server certificate for go-plugin's mutual TLS (as go-plugin's own
    servers make: ECDSA, for `localhost`, a CA so the client can pin it as its root)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=12))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                          crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH,
                                   x509.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(
        serialization.Encoding.DER)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print("This is a Terraform provider plugin; Terraform runs it.", file=sys.stderr)
        return 1
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)["provider_schemas"][sys.argv[2]]

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    stopping = threading.Event()
    rpc.add_ProviderServicer_to_server(Provider(doc), server)
    controller_rpc.add_GRPCControllerServicer_to_server(Controller(stopping.set), server)
    key_pem, cert_pem, cert_der = certificate()
    # TLS with the certificate pinned in the handshake line, as go-plugin expects; Terraform
    # presents no client certificate, and the socket sits in a directory only this user can
    # open.
    credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)], require_client_auth=False)
    with tempfile.TemporaryDirectory(prefix="tfstub-") as tmp:
        socket_path = os.path.join(tmp, "plugin.sock")
        server.add_secure_port(f"unix://{socket_path}", credentials)
        server.start()
        cert = base64.b64encode(cert_der).decode().rstrip("=")
        # core protocol | app protocol | network | address | protocol | server certificate
        print(f"1|6|unix|{socket_path}|grpc|{cert}", flush=True)
        # Terraform asks a plugin to stop with the controller's Shutdown call and kills it two
        # seconds later: stop as soon as the call has been answered.
        stopping.wait()
        server.stop(0.2).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
