//! Parameter types that write themselves into generated code: the `tokens!` macro that
//! declares them and, with the `tokens` feature, the `Param` and `Field` traits it
//! implements.
//!
//! The compiler emits calls such as
//! `rt::elementwise::unary(rt::elementwise::UnaryOp::LeakyRelu { alpha: 0.01f32 }, x, y)`
//! (generated code has `use zant_runtime as rt`). Every enum and struct such a call passes
//! by value is declared inside `tokens! { rt::<module>; <item> }`, which re-emits the
//! item unchanged and, behind the feature, derives one `match` from the definition:
//! `Param::visit`, which hands over the variant's name, its kind and its fields. The
//! tokens (`quote::ToTokens`), the field list and the summary the compiler prints in its
//! IR text (`LeakyRelu alpha=0.01`) all go through that one match, so a new variant or
//! field cannot be forgotten and the compiler mirrors no type by hand.
//!
//! The tokens are spelled as the compiler spelled them: integers and finite floats carry
//! their type suffix (`3usize`, `0.01f32`), non-finite floats are the constants
//! (`f32::NAN`, `f32::INFINITY`, `f32::NEG_INFINITY`), which no literal can write, a slice
//! is `&[..]`, an `Option` is `Some(..)` or `None`, and a nested parameter type is its
//! own full path.
//!
//! Without the feature only the macro exists, and the crate stays `no_std` without
//! `alloc`. Types that borrow tensor data (`gemm::Bias`, `attention::Inputs`, …) are not
//! parameters, since generated code passes slices of the arena there, and are not
//! declared with the macro.

#[cfg(feature = "tokens")]
use alloc::{format, string::String, vec::Vec};

#[cfg(feature = "tokens")]
use proc_macro2::{Ident, Span, TokenStream};
#[cfg(feature = "tokens")]
use quote::{quote, ToTokens};

/// Declares a parameter type: `tokens! { rt::<module>; <enum or struct> }`, the path being
/// where generated code names the type (`rt` alone for a type at the crate root).
///
/// The item is re-emitted unchanged. With the `tokens` feature the macro also implements
/// [`Param`], [`Field`] and `quote::ToTokens` for it. Enums may mix unit, struct-like and
/// tuple variants (at most eight fields each); structs have named fields; either may take
/// one lifetime parameter.
macro_rules! tokens {
    // The entry points. `visitor` is named here, once, because a local variable written
    // by one expansion of a `macro_rules!` macro is invisible to the tokens of another:
    // the match arms and the function that binds the name must share this identifier.
    ($($path:ident)::+; $(#[$attr:meta])* $vis:vis enum $name:ident $(<$lt:lifetime>)? {
        $($body:tt)*
    }) => {
        $(#[$attr])*
        $vis enum $name $(<$lt>)? { $($body)* }

        #[cfg(feature = "tokens")]
        $crate::tokens::tokens!(@variants visitor {[$($path)+] $name [$($lt)?]} [] $($body)*);
    };
    ($($path:ident)::+; $(#[$attr:meta])* $vis:vis struct $name:ident $(<$lt:lifetime>)? {
        $($(#[$field_attr:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$attr])*
        $vis struct $name $(<$lt>)? { $($(#[$field_attr])* $field_vis $field: $ty),* }

        #[cfg(feature = "tokens")]
        $crate::tokens::tokens!(@impl visitor {[$($path)+] $name [$($lt)?]} [
            Self { $($field),* } => visitor(&$crate::tokens::Parts {
                variant: None,
                kind: $crate::tokens::Kind::Named,
                fields: &[$((stringify!($field), $field as &dyn $crate::tokens::Field)),*],
            }),
        ]);
    };

    // Enum variants, one at a time, each becoming an arm of `visit`.
    (@variants $visitor:ident $head:tt [$($arms:tt)*]) => {
        $crate::tokens::tokens!(@impl $visitor $head [$($arms)*]);
    };
    (@variants $visitor:ident $head:tt [$($arms:tt)*]
        $(#[$variant_attr:meta])* $variant:ident {
            $($(#[$field_attr:meta])* $field:ident : $ty:ty),* $(,)?
        }
        $(, $($rest:tt)*)?
    ) => {
        $crate::tokens::tokens!(@variants $visitor $head [$($arms)*
            Self::$variant { $($field),* } => $visitor(&$crate::tokens::Parts {
                variant: Some(stringify!($variant)),
                kind: $crate::tokens::Kind::Named,
                fields: &[$((stringify!($field), $field as &dyn $crate::tokens::Field)),*],
            }),
        ] $($($rest)*)?);
    };
    (@variants $visitor:ident $head:tt [$($arms:tt)*]
        $(#[$variant_attr:meta])* $variant:ident ($($ty:ty),* $(,)?)
        $(, $($rest:tt)*)?
    ) => {
        $crate::tokens::tokens!(@tuple $visitor $head [$($arms)*] $variant []
            [(f0 0) (f1 1) (f2 2) (f3 3) (f4 4) (f5 5) (f6 6) (f7 7)]
            [$(($ty))*] $($($rest)*)?);
    };
    (@variants $visitor:ident $head:tt [$($arms:tt)*]
        $(#[$variant_attr:meta])* $variant:ident
        $(, $($rest:tt)*)?
    ) => {
        $crate::tokens::tokens!(@variants $visitor $head [$($arms)*
            Self::$variant => $visitor(&$crate::tokens::Parts {
                variant: Some(stringify!($variant)),
                kind: $crate::tokens::Kind::Unit,
                fields: &[],
            }),
        ] $($($rest)*)?);
    };

    // A tuple variant's fields need bindings, which `macro_rules!` cannot make up: each
    // field takes the next name (and index) from the pool.
    (@tuple $visitor:ident $head:tt $arms:tt $variant:ident [$($bound:tt)*]
        [$next:tt $($pool:tt)*] [$field:tt $($fields:tt)*] $($rest:tt)*
    ) => {
        $crate::tokens::tokens!(@tuple $visitor $head $arms $variant [$($bound)* $next]
            [$($pool)*] [$($fields)*] $($rest)*);
    };
    (@tuple $visitor:ident $head:tt [$($arms:tt)*] $variant:ident
        [$(($binding:ident $index:tt))*] [$($pool:tt)*] [] $($rest:tt)*
    ) => {
        $crate::tokens::tokens!(@variants $visitor $head [$($arms)*
            Self::$variant($($binding),*) => $visitor(&$crate::tokens::Parts {
                variant: Some(stringify!($variant)),
                kind: $crate::tokens::Kind::Tuple,
                fields: &[$((stringify!($index), $binding as &dyn $crate::tokens::Field)),*],
            }),
        ] $($rest)*);
    };

    // The implementations, around the arms.
    (@impl $visitor:ident {[$($path:ident)+] $name:ident [$($lt:lifetime)?]} [$($arms:tt)*]) => {
        impl $(<$lt>)? $crate::tokens::Param for $name $(<$lt>)? {
            const PATH: &'static [&'static str] = &[$(stringify!($path),)+ stringify!($name)];

            fn visit<R>(
                &self,
                $visitor: impl FnOnce(&$crate::tokens::Parts<'_>) -> R,
            ) -> R {
                match self {
                    $($arms)*
                }
            }
        }

        impl $(<$lt>)? $crate::tokens::Field for $name $(<$lt>)? {
            fn tokens(&self) -> ::proc_macro2::TokenStream {
                $crate::tokens::param_tokens(self)
            }

            fn display(&self) -> ::alloc::string::String {
                $crate::tokens::param_display(self)
            }
        }

        impl $(<$lt>)? ::quote::ToTokens for $name $(<$lt>)? {
            fn to_tokens(&self, tokens: &mut ::proc_macro2::TokenStream) {
                tokens.extend($crate::tokens::param_tokens(self));
            }
        }
    };
}

pub(crate) use tokens;

/// A parameter type: one the compiler passes by value in a generated call. Implemented by
/// the `tokens!` macro, never by hand.
#[cfg(feature = "tokens")]
pub trait Param {
    /// Where generated code names the type, segment by segment:
    /// `["rt", "elementwise", "UnaryOp"]`.
    const PATH: &'static [&'static str];

    /// Calls `visitor` with the value's variant, kind and fields: the one match everything
    /// else goes through.
    fn visit<R>(&self, visitor: impl FnOnce(&Parts<'_>) -> R) -> R;

    /// The variant's name, or the type's for a struct: `LeakyRelu`, `Conv2d`.
    fn name(&self) -> &'static str {
        self.visit(|parts| parts.variant.unwrap_or_else(type_name::<Self>))
    }

    /// The fields as `(name, value)` pairs, the values as [`Field::display`] shows them;
    /// a tuple variant's fields are named by their index.
    fn fields(&self) -> Vec<(&'static str, String)> {
        self.visit(|parts| {
            parts
                .fields
                .iter()
                .map(|&(name, value)| (name, value.display()))
                .collect()
        })
    }

    /// The name and the fields on one line, for the compiler's IR text:
    /// `LeakyRelu alpha=0.01`, `Relu`.
    fn summary(&self) -> String {
        let mut summary = String::from(self.name());
        for (name, value) in self.fields() {
            summary.push(' ');
            summary.push_str(name);
            summary.push('=');
            summary.push_str(&value);
        }
        summary
    }
}

/// What [`Param::visit`] hands over: one value, taken apart.
#[cfg(feature = "tokens")]
pub struct Parts<'a> {
    /// The variant's name; `None` for a struct.
    pub variant: Option<&'static str>,
    pub kind: Kind,
    /// The fields in declaration order, named by their index in a tuple variant.
    pub fields: &'a [(&'static str, &'a dyn Field)],
}

/// How a variant or struct holds its fields, which decides how it is written.
#[cfg(feature = "tokens")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// No fields: `Relu`.
    Unit,
    /// `Clip { min: .., max: .. }`.
    Named,
    /// `Scalar(..)`.
    Tuple,
}

/// A value a parameter type holds: how generated code writes it and how the IR text shows
/// it.
#[cfg(feature = "tokens")]
pub trait Field {
    /// The value as an expression of generated code.
    fn tokens(&self) -> TokenStream;

    /// The value in the IR text, compact and without spaces: `0.01`, `[3,3]`, `Mean`.
    fn display(&self) -> String;
}

/// The last segment of `P::PATH`: the type's own name.
#[cfg(feature = "tokens")]
fn type_name<P: Param + ?Sized>() -> &'static str {
    P::PATH.last().copied().unwrap_or_default()
}

/// A parameter value as an expression of generated code:
/// `rt::elementwise::UnaryOp::LeakyRelu { alpha: 0.01f32 }`.
#[cfg(feature = "tokens")]
pub fn param_tokens<P: Param>(value: &P) -> TokenStream {
    value.visit(|parts| {
        let path = P::PATH
            .iter()
            .copied()
            .chain(parts.variant)
            .map(|segment| Ident::new(segment, Span::call_site()));
        let path = quote!(#(#path)::*);
        let values = parts.fields.iter().map(|(_, value)| value.tokens());
        match parts.kind {
            Kind::Unit => path,
            Kind::Named => {
                let names = parts
                    .fields
                    .iter()
                    .map(|(name, _)| Ident::new(name, Span::call_site()));
                quote!(#path { #(#names: #values),* })
            }
            Kind::Tuple => quote!(#path(#(#values),*)),
        }
    })
}

/// A parameter value nested in another, as the IR text shows it: `Mean`,
/// `MaskLayout{batch_stride=0,cols=4}`, `Scalar(1.5)`.
#[cfg(feature = "tokens")]
pub fn param_display<P: Param>(value: &P) -> String {
    value.visit(|parts| {
        let name = parts.variant.unwrap_or_else(type_name::<P>);
        match parts.kind {
            Kind::Unit => String::from(name),
            Kind::Named => {
                let fields: Vec<String> = parts
                    .fields
                    .iter()
                    .map(|(field, value)| format!("{field}={}", value.display()))
                    .collect();
                format!("{name}{{{}}}", fields.join(","))
            }
            Kind::Tuple => {
                let values: Vec<String> = parts.fields.iter().map(|(_, v)| v.display()).collect();
                format!("{name}({})", values.join(","))
            }
        }
    })
}

/// Floats: a suffixed literal when finite, else the type's constant, since a literal cannot
/// be NaN or infinite (and `proc_macro2` panics on one).
#[cfg(feature = "tokens")]
macro_rules! float_field {
    ($ty:ident, $suffixed:ident) => {
        impl Field for $ty {
            fn tokens(&self) -> TokenStream {
                if self.is_nan() {
                    quote!($ty::NAN)
                } else if *self == $ty::INFINITY {
                    quote!($ty::INFINITY)
                } else if *self == $ty::NEG_INFINITY {
                    quote!($ty::NEG_INFINITY)
                } else {
                    proc_macro2::Literal::$suffixed(*self).into_token_stream()
                }
            }

            fn display(&self) -> String {
                format!("{self:?}")
            }
        }
    };
}

#[cfg(feature = "tokens")]
float_field!(f32, f32_suffixed);
#[cfg(feature = "tokens")]
float_field!(f64, f64_suffixed);

/// Integers and booleans: `quote`'s own tokens, which suffix integers (`3usize`).
#[cfg(feature = "tokens")]
macro_rules! exact_field {
    ($($ty:ty),*) => {
        $(
            impl Field for $ty {
                fn tokens(&self) -> TokenStream {
                    self.into_token_stream()
                }

                fn display(&self) -> String {
                    format!("{self}")
                }
            }
        )*
    };
}

#[cfg(feature = "tokens")]
exact_field!(bool, u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

#[cfg(feature = "tokens")]
impl<T: Field> Field for Option<T> {
    fn tokens(&self) -> TokenStream {
        match self {
            Some(value) => {
                let value = value.tokens();
                quote!(Some(#value))
            }
            None => quote!(None),
        }
    }

    fn display(&self) -> String {
        self.as_ref()
            .map_or_else(|| String::from("none"), Field::display)
    }
}

#[cfg(feature = "tokens")]
impl<T: Field, const N: usize> Field for [T; N] {
    fn tokens(&self) -> TokenStream {
        let values = self.iter().map(Field::tokens);
        quote!([#(#values),*])
    }

    fn display(&self) -> String {
        list_display(self)
    }
}

/// A borrowed slice of constants (a shape, say): `&[2usize, 3usize]`.
#[cfg(feature = "tokens")]
impl<T: Field> Field for &[T] {
    fn tokens(&self) -> TokenStream {
        let values = self.iter().map(Field::tokens);
        quote!(&[#(#values),*])
    }

    fn display(&self) -> String {
        list_display(self)
    }
}

/// `[a,b,c]`, the IR text's list form (as in `f32[1,8,28,28]`).
#[cfg(feature = "tokens")]
fn list_display<T: Field>(values: &[T]) -> String {
    let values: Vec<String> = values.iter().map(Field::display).collect();
    format!("[{}]", values.join(","))
}

#[cfg(all(test, feature = "tokens"))]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;

    use super::*;
    use crate::attention::{Attention, MaskLayout};
    use crate::elementwise::UnaryOp;
    use crate::grid_sample::{GridMode, GridPadding, GridSample};
    use crate::loss::{Loss, Reduction};
    use crate::Activation;

    tokens! {
        rt::tests;
        /// Every shape a variant can take, with fields of every kind of value.
        #[derive(Clone, Copy, Debug, PartialEq)]
        enum Example {
            Unit,
            Pair(f32, Option<i64>),
            Nested {
                act: Activation,
                kernel: [usize; 2],
                cap: Option<f32>,
            },
        }
    }

    tokens! {
        rt::tests;
        /// A struct borrowing constants, as `GridSample` does.
        struct Borrowing<'a> {
            dims: &'a [usize],
            /// A nested enum.
            example: Example,
        }
    }

    /// Checks the tokens (as `proc_macro2` prints them), the summary and the field list of
    /// one value.
    fn check<P: Param + ToTokens>(value: &P, tokens: &str, summary: &str) {
        assert_eq!(value.to_token_stream().to_string(), tokens);
        assert_eq!(value.summary(), summary);
        let fields = value.fields();
        let expected: Vec<String> = summary.split(' ').skip(1).map(String::from).collect();
        let listed: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn unit_variants_are_their_path() {
        check(
            &UnaryOp::Relu,
            "rt :: elementwise :: UnaryOp :: Relu",
            "Relu",
        );
        check(&Activation::None, "rt :: Activation :: None", "None");
        check(&Example::Unit, "rt :: tests :: Example :: Unit", "Unit");
    }

    #[test]
    fn struct_variants_spell_every_float() {
        check(
            &UnaryOp::LeakyRelu { alpha: 0.01 },
            "rt :: elementwise :: UnaryOp :: LeakyRelu { alpha : 0.01f32 }",
            "LeakyRelu alpha=0.01",
        );
        check(
            &UnaryOp::Clip {
                min: f32::NAN,
                max: f32::INFINITY,
            },
            "rt :: elementwise :: UnaryOp :: Clip { min : f32 :: NAN , max : f32 :: INFINITY }",
            "Clip min=NaN max=inf",
        );
        check(
            &Activation::Clip {
                min: f32::NEG_INFINITY,
                max: -0.5,
            },
            "rt :: Activation :: Clip { min : f32 :: NEG_INFINITY , max : - 0.5f32 }",
            "Clip min=-inf max=-0.5",
        );
    }

    #[test]
    fn tuple_variants_bind_every_field() {
        check(
            &Example::Pair(1.0, Some(-3)),
            "rt :: tests :: Example :: Pair (1f32 , Some (- 3i64))",
            "Pair 0=1.0 1=-3",
        );
        check(
            &Example::Pair(f32::NAN, None),
            "rt :: tests :: Example :: Pair (f32 :: NAN , None)",
            "Pair 0=NaN 1=none",
        );
    }

    #[test]
    fn nested_values_are_written_in_full() {
        check(
            &Example::Nested {
                act: Activation::Clip { min: 0.0, max: 6.0 },
                kernel: [3, 1],
                cap: Some(f32::NAN),
            },
            "rt :: tests :: Example :: Nested { act : rt :: Activation :: Clip { min : 0f32 , \
             max : 6f32 } , kernel : [3usize , 1usize] , cap : Some (f32 :: NAN) }",
            "Nested act=Clip{min=0.0,max=6.0} kernel=[3,1] cap=NaN",
        );
        check(
            &Borrowing {
                dims: &[4, 5],
                example: Example::Unit,
            },
            "rt :: tests :: Borrowing { dims : & [4usize , 5usize] , example : rt :: tests :: \
             Example :: Unit }",
            "Borrowing dims=[4,5] example=Unit",
        );
        check(
            &Loss {
                batch: 2,
                classes: 5,
                inner: 1,
                reduction: Reduction::Mean,
                ignore_index: Some(-100),
            },
            "rt :: loss :: Loss { batch : 2usize , classes : 5usize , inner : 1usize , \
             reduction : rt :: loss :: Reduction :: Mean , ignore_index : Some (- 100i64) }",
            "Loss batch=2 classes=5 inner=1 reduction=Mean ignore_index=-100",
        );
        check(
            &GridSample {
                batch: 1,
                channels: 3,
                dims: &[8, 8],
                points: 16,
                mode: GridMode::Cubic,
                padding: GridPadding::Reflection,
                align_corners: false,
            },
            "rt :: grid_sample :: GridSample { batch : 1usize , channels : 3usize , dims : & \
             [8usize , 8usize] , points : 16usize , mode : rt :: grid_sample :: GridMode :: \
             Cubic , padding : rt :: grid_sample :: GridPadding :: Reflection , align_corners : \
             false }",
            "GridSample batch=1 channels=3 dims=[8,8] points=16 mode=Cubic padding=Reflection \
             align_corners=false",
        );
    }

    #[test]
    fn a_nested_struct_shows_its_fields_in_braces() {
        let attention = Attention {
            batch: 1,
            q_heads: 2,
            kv_heads: 1,
            q_len: 3,
            kv_len: 3,
            past_len: 0,
            head_size: 4,
            v_head_size: 4,
            packed: true,
            scale: 0.5,
            softcap: 0.0,
            causal: true,
            left_window: -1,
            right_window: -1,
            mask: MaskLayout {
                batch_stride: 0,
                head_stride: 0,
                query_stride: 3,
                cols: 3,
            },
        };
        let fields = attention.fields();
        assert_eq!(fields.len(), 15);
        assert_eq!(
            fields[14],
            (
                "mask",
                "MaskLayout{batch_stride=0,head_stride=0,query_stride=3,cols=3}".to_string()
            )
        );
        let tokens = attention.to_token_stream().to_string();
        assert!(
            tokens.ends_with(
                "mask : rt :: attention :: MaskLayout { batch_stride : 0usize , head_stride : \
                 0usize , query_stride : 3usize , cols : 3usize } }"
            ),
            "{tokens}"
        );
        assert!(tokens.contains("left_window : - 1i64"), "{tokens}");
    }

    #[test]
    fn every_unary_variant_is_named_as_its_debug_form() {
        // The macro's names come from the definition, so they cannot drift from `Debug`.
        let ops = vec![
            UnaryOp::Sigmoid,
            UnaryOp::GeluTanh,
            UnaryOp::Swish { alpha: 1.0 },
            UnaryOp::Shrink {
                bias: 0.0,
                lambd: 0.5,
            },
        ];
        for op in ops {
            assert!(format!("{op:?}").starts_with(op.name()), "{op:?}");
        }
    }
}
