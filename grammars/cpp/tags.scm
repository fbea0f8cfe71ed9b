; inherits: c
; methods: defined in their class, or outside it (int Square::area() …); classes and namespaces
(field_declaration_list
  (function_definition
    declarator: (function_declarator
      declarator: [(field_identifier) (identifier) (destructor_name) (operator_name)] @name)) @definition.method)

(field_declaration_list
  (field_declaration
    declarator: (function_declarator
      declarator: [(field_identifier) (destructor_name) (operator_name)] @name)) @definition.method)

(function_definition
  declarator: (function_declarator
    declarator: (qualified_identifier
      name: [(identifier) (destructor_name) (operator_name)] @name))) @definition.method

(function_definition
  declarator: (function_declarator
    declarator: (qualified_identifier
      name: (qualified_identifier
        name: [(identifier) (destructor_name) (operator_name)] @name)))) @definition.method

(class_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.class

(namespace_definition
  name: (namespace_identifier) @name) @definition.module

(alias_declaration
  name: (type_identifier) @name) @definition.type
