//! The use cases, callable from the API, the command line and job kinds alike: each takes typed
//! input and returns domain values or its own typed error. No HTTP types here; handlers extract,
//! authorise, call a service and render its result. So far: recording pushes and authenticating
//! tokens; the mirror, project, member and protected-branch rules still live in their handlers.

pub mod auth;
pub mod pushes;
