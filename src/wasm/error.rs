//! Library errors as JavaScript `Error`s: the message a person reads, and a stable `code`
//! (`VitError::code`) that the page branches on.

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use crate::error::VitError;

/// A failure on its way to JavaScript.
pub struct Failure(VitError);

impl<E: Into<VitError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl From<Failure> for JsValue {
    fn from(Failure(e): Failure) -> JsValue {
        let error = js_sys::Error::new(&e.to_string());
        // Setting a property on a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(&error, &"code".into(), &e.code().into());
        error.into()
    }
}

/// A value as a JavaScript object (a flattened struct as an object too, not as a `Map`).
pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue, Failure> {
    let serializer = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    value
        .serialize(&serializer)
        .map_err(|e| VitError::Request(e.to_string()).into())
}

/// A JavaScript object as a value; one of another shape is a request this API does not take.
pub fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, VitError> {
    serde_wasm_bindgen::from_value(value).map_err(|e| VitError::Request(e.to_string()))
}
