(declaration_list
  (function_item
    name: (identifier) @name) @definition.method)

(source_file
  (function_item
    name: (identifier) @name) @definition.function)

(mod_item
  body: (declaration_list
    (function_item
      name: (identifier) @name) @definition.function))

(struct_item
  name: (type_identifier) @name) @definition.class

(enum_item
  name: (type_identifier) @name) @definition.type

(trait_item
  name: (type_identifier) @name) @definition.interface

(type_item
  name: (type_identifier) @name) @definition.type

; a struct's fields and an enum's variants, shown in their skeletons
(field_declaration_list
  (field_declaration
    name: (field_identifier) @name) @definition.field)

(enum_variant_list
  (enum_variant
    name: (identifier) @name) @definition.field)
