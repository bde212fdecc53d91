//! `#[derive(GobType)]` for the `gob` crate.
//!
//! The Go field names are the names serde uses: `#[serde(rename_all = "...")]`
//! on the container and `#[serde(rename = "...")]` on fields are honoured,
//! `#[serde(skip)]` / `skip_serializing` fields are left out. The Go type name
//! is the Rust ident unless `#[gob(name = "...")]` says otherwise.
//! Newtype and `#[serde(transparent)]` structs take their inner type; unit-only
//! enums are Go strings (serde writes their names). A newtype over a container of
//! itself (Go `type RS []RS`) needs `#[gob(recursive)]`: it becomes a
//! `Type::Recursive`, whose definition may name the type again.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr, parse_macro_input};

#[proc_macro_derive(GobType, attributes(gob))]
pub fn derive_gob_type(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Default)]
struct Container {
    rename_all: Option<String>,
    transparent: bool,
    go_name: Option<String>,
    recursive: bool,
}

#[derive(Default)]
struct FieldAttrs {
    rename: Option<String>,
    skip: bool,
    flatten: bool,
}

fn container_attrs(input: &DeriveInput) -> syn::Result<Container> {
    let mut c = Container::default();
    for attr in &input.attrs {
        if attr.path().is_ident("serde") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename_all") {
                    c.rename_all = Some(serialize_name(&meta)?);
                } else if meta.path.is_ident("transparent") {
                    c.transparent = true;
                } else {
                    skip_meta_value(&meta)?;
                }
                Ok(())
            })?;
        } else if attr.path().is_ident("gob") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    c.go_name = Some(meta.value()?.parse::<LitStr>()?.value());
                    Ok(())
                } else if meta.path.is_ident("recursive") {
                    c.recursive = true;
                    Ok(())
                } else {
                    Err(meta.error("unknown gob attribute (expected `name` or `recursive`)"))
                }
            })?;
        }
    }
    Ok(c)
}

fn field_attrs(field: &syn::Field) -> syn::Result<FieldAttrs> {
    let mut f = FieldAttrs::default();
    for attr in &field.attrs {
        if !attr.path().is_ident("serde") {
            continue;
        }
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                f.rename = Some(serialize_name(&meta)?);
            } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_serializing") {
                f.skip = true;
            } else if meta.path.is_ident("flatten") {
                f.flatten = true;
            } else {
                skip_meta_value(&meta)?;
            }
            Ok(())
        })?;
    }
    Ok(f)
}

/// `rename = "X"` or `rename(serialize = "X", deserialize = "Y")` → the serialize name.
fn serialize_name(meta: &syn::meta::ParseNestedMeta) -> syn::Result<String> {
    if meta.input.peek(syn::Token![=]) {
        return Ok(meta.value()?.parse::<LitStr>()?.value());
    }
    let mut name = None;
    meta.parse_nested_meta(|inner| {
        let v = inner.value()?.parse::<LitStr>()?.value();
        if inner.path.is_ident("serialize") {
            name = Some(v);
        }
        Ok(())
    })?;
    name.ok_or_else(|| meta.error("expected a serialize name"))
}

/// Consume `= <expr>` or `(...)` of serde attributes we do not care about.
fn skip_meta_value(meta: &syn::meta::ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip_meta_value(&inner))?;
    }
    Ok(())
}

/// serde's `RenameRule::apply_to_field`, for snake_case Rust field names.
fn apply_rename_all(rule: &str, field: &str) -> syn::Result<String> {
    let pascal = || {
        let mut out = String::new();
        let mut capitalize = true;
        for ch in field.chars() {
            if ch == '_' {
                capitalize = true;
            } else if capitalize {
                out.push(ch.to_ascii_uppercase());
                capitalize = false;
            } else {
                out.push(ch);
            }
        }
        out
    };
    Ok(match rule {
        "lowercase" | "snake_case" => field.to_string(),
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => field.to_ascii_uppercase(),
        "PascalCase" => pascal(),
        "camelCase" => {
            let p = pascal();
            let mut chars = p.chars();
            match chars.next() {
                Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
                None => p,
            }
        }
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.to_ascii_uppercase().replace('_', "-"),
        other => {
            return Err(syn::Error::new(
                proc_macro2::Span::call_site(),
                format!("unsupported rename_all rule {other:?}"),
            ));
        }
    })
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let c = container_attrs(input)?;
    let ident = &input.ident;
    let go_name = c.go_name.clone().unwrap_or_else(|| ident.to_string());
    let mut generics = input.generics.clone();
    for tp in generics.type_params_mut() {
        tp.bounds.push(syn::parse_quote!(::gob::GobType));
        tp.bounds.push(syn::parse_quote!('static));
    }
    let (impl_g, ty_g, where_c) = generics.split_for_impl();

    let body = match &input.data {
        Data::Struct(s) => struct_body(&c, &go_name, &s.fields)?,
        Data::Enum(e) => {
            if let Some(v) = e
                .variants
                .iter()
                .find(|v| !matches!(v.fields, Fields::Unit))
            {
                return Err(syn::Error::new_spanned(
                    v,
                    "GobType: only unit-only enums (Go strings) are supported",
                ));
            }
            quote!(::gob::Type::String)
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(
                u.union_token,
                "GobType: unions are not supported",
            ));
        }
    };
    Ok(quote! {
        impl #impl_g ::gob::GobType for #ident #ty_g #where_c {
            fn gob_type() -> ::gob::Type { #body }
        }
    })
}

fn struct_body(
    c: &Container,
    go_name: &str,
    fields: &Fields,
) -> syn::Result<proc_macro2::TokenStream> {
    // Newtypes and transparent structs serialize as their (only) field.
    let unskipped: Vec<&syn::Field> = fields
        .iter()
        .filter(|f| field_attrs(f).map(|a| !a.skip).unwrap_or(true))
        .collect();
    if c.transparent || matches!(fields, Fields::Unnamed(u) if u.unnamed.len() == 1) {
        let [only] = unskipped.as_slice() else {
            return Err(syn::Error::new(
                proc_macro2::Span::call_site(),
                "GobType: transparent/newtype struct needs exactly one field",
            ));
        };
        let ty = &only.ty;
        if c.recursive {
            // Built lazily under its own identity, so the inner type may name Self.
            return Ok(quote! {
                ::gob::Type::Recursive(::gob::RecursiveType::of::<Self>(#go_name, || {
                    <#ty as ::gob::GobType>::gob_type()
                }))
            });
        }
        return Ok(quote!(<#ty as ::gob::GobType>::gob_type()));
    }
    if c.recursive {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "GobType: #[gob(recursive)] is for newtypes over a slice, array or map",
        ));
    }
    let mut entries = Vec::new();
    match fields {
        Fields::Named(named) => {
            for f in &named.named {
                let attrs = field_attrs(f)?;
                if attrs.skip {
                    continue;
                }
                if attrs.flatten {
                    return Err(syn::Error::new_spanned(
                        f,
                        "GobType: #[serde(flatten)] is not supported",
                    ));
                }
                let rust_name = f
                    .ident
                    .as_ref()
                    .map(|i| i.to_string().trim_start_matches("r#").to_string())
                    .unwrap_or_default();
                let name = match (attrs.rename, &c.rename_all) {
                    (Some(n), _) => n,
                    (None, Some(rule)) => apply_rename_all(rule, &rust_name)?,
                    (None, None) => rust_name,
                };
                let ty = &f.ty;
                entries.push(quote!((::std::string::String::from(#name), <#ty as ::gob::GobType>::gob_type())));
            }
        }
        Fields::Unnamed(u) => {
            return Err(syn::Error::new_spanned(
                u,
                "GobType: tuple structs with several fields have no Go form",
            ));
        }
        Fields::Unit => {}
    }
    Ok(quote! {
        ::gob::Type::Struct(::gob::StructType::of::<Self>(#go_name, || ::std::vec![#(#entries),*]))
    })
}
