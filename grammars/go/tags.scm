(function_declaration
  name: (identifier) @name) @definition.function

(method_declaration
  name: (field_identifier) @name) @definition.method

(type_declaration
  (type_spec
    name: (type_identifier) @name
    type: (struct_type)) @definition.class)

(type_declaration
  (type_spec
    name: (type_identifier) @name
    type: (interface_type)) @definition.interface)

; a struct's fields and an interface's methods, shown in their skeletons
(field_declaration_list
  (field_declaration
    name: (field_identifier) @name) @definition.field)

(interface_type
  (method_elem
    name: (field_identifier) @name) @definition.field)
