(function_declaration
  name: (identifier) @name) @definition.function

(generator_function_declaration
  name: (identifier) @name) @definition.function

(class_declaration
  name: (type_identifier) @name) @definition.class

(abstract_class_declaration
  name: (type_identifier) @name) @definition.class

(method_definition
  name: (property_identifier) @name) @definition.method

(interface_declaration
  name: (type_identifier) @name) @definition.interface

(type_alias_declaration
  name: (type_identifier) @name) @definition.type

(enum_declaration
  name: (identifier) @name) @definition.type

(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression)]) @definition.function)

(variable_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression)]) @definition.function)

; a class's fields, an interface's properties and methods, an enum's members: shown in their skeletons
(public_field_definition
  name: [(property_identifier) (private_property_identifier)] @name) @definition.field

(interface_body
  (property_signature
    name: (property_identifier) @name) @definition.field)

(interface_body
  (method_signature
    name: (property_identifier) @name) @definition.field)

; a type alias of an object type: `type Point = { x: number; … }` (its properties, like an interface's), also
; in an intersection: `type Named = Base & { name: string }` (and one level deeper: `A & B & { … }`)
(type_alias_declaration
  value: (object_type
    [(property_signature name: (property_identifier) @name)
     (method_signature name: (property_identifier) @name)] @definition.field))

(type_alias_declaration
  value: (intersection_type
    (object_type
      [(property_signature name: (property_identifier) @name)
       (method_signature name: (property_identifier) @name)] @definition.field)))

(type_alias_declaration
  value: (intersection_type
    (intersection_type
      (object_type
        [(property_signature name: (property_identifier) @name)
         (method_signature name: (property_identifier) @name)] @definition.field))))

(enum_body
  name: (property_identifier) @name @definition.field)

(enum_body
  (enum_assignment
    name: (property_identifier) @name) @definition.field)
