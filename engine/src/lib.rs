//! trunkline's engine: transports, the proxy pipeline, configuration, the
//! management API and the `trunkline` command line.

pub mod cli;
pub mod config;
pub mod control;
pub mod proxy;
pub mod router;
pub mod routing;
pub mod srv;
pub mod transport;
