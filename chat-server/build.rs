//! Generates the support desk's gRPC code (`chatapp.support.v1`, docs/support-api.md) from
//! `proto/`: protox compiles the `.proto` in Rust, so building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/chatapp/support/v1/support.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
