(class_declaration
  name: (identifier) @name) @definition.class

(record_declaration
  name: (identifier) @name) @definition.class

(interface_declaration
  name: (identifier) @name) @definition.interface

(annotation_type_declaration
  name: (identifier) @name) @definition.interface

(enum_declaration
  name: (identifier) @name) @definition.type

(method_declaration
  name: (identifier) @name) @definition.method

(constructor_declaration
  name: (identifier) @name) @definition.method

;; constants: static final fields
((field_declaration
  (modifiers) @_modifiers
  declarator: (variable_declarator
    name: (identifier) @name)) @definition.constant
  (#match? @_modifiers "(^|[ \t\n])static([ \t\n]|$)")
  (#match? @_modifiers "(^|[ \t\n])final([ \t\n]|$)"))

; a class's fields and an enum's constants, shown in their skeletons
(class_body
  (field_declaration
    declarator: (variable_declarator
      name: (identifier) @name)) @definition.field)

(enum_body
  (enum_constant
    name: (identifier) @name) @definition.field)
