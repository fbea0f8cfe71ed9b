;; import com.example.Calc; import static com.example.Calc.add;
(import_declaration
  (scoped_identifier
    scope: (_) @import.module
    name: (identifier) @import.name)) @import

;; import com.example.*;
(import_declaration
  (scoped_identifier) @import.module
  (asterisk)) @import
