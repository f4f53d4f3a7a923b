# A small stand-in for nixpkgs' `lib`, written for Chainfire's offline checks (nixpkgs is
# not reachable there). It holds the helpers nix/ and eval.nix use, under nixpkgs' names
# and meanings, and a module system reduced to what our modules need:
#
#   evalModules { modules; specialArgs ? { }; prefix ? [ ]; } -> { config; options; }
#
#   - modules are paths, functions or attribute sets, with imports, disabledModules,
#     options, config (or config given at the top level) and freeformType;
#   - option declarations from all modules form one tree (declaring a name twice throws);
#   - definitions are merged per option: mkMerge and mkIf are resolved, then only the
#     definitions of the strongest priority stay (mkForce 50 < plain 100 < mkDefault 1000
#     < the option's default 1500), each is checked against the option's type, and the
#     type merges them (lists concatenate, attribute sets merge per name, scalars must
#     agree, submodules evaluate their definitions as modules);
#   - a definition under a namespace that declares no such option throws "The option
#     `a.b' does not exist" (unless the module set has a freeformType), and so does one
#     inside a submodule (`systemd.services.x.typo').
#
# Not nixpkgs' implementation: no mkOrder, no option documentation, no _module.args,
# simpler error messages. Only names nix/ uses (test/deploy/nix.test.ts checks that every
# `lib` name the evaluated files use is defined here).
let
  inherit (builtins)
    all
    any
    attrNames
    concatLists
    concatMap
    concatStringsSep
    elem
    elemAt
    filter
    foldl'
    genericClosure
    head
    isAttrs
    isBool
    isFloat
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    mapAttrs
    match
    removeAttrs
    stringLength
    substring
    tail
    toJSON
    typeOf
    zipAttrsWith
    ;

  # ---- helpers (nixpkgs names) ----------------------------------------------------------

  nameValuePair = name: value: { inherit name value; };
  mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
  mapAttrs' = f: set: listToAttrs (mapAttrsToList f set);
  filterAttrs =
    pred: set:
    listToAttrs (
      concatMap (n: if pred n set.${n} then [ (nameValuePair n set.${n}) ] else [ ]) (attrNames set)
    );
  genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);
  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  optionalAttrs = cond: set: if cond then set else { };
  optionalString = cond: s: if cond then s else "";
  last = xs: if xs == [ ] then throw "lib.last: empty list" else elemAt xs (length xs - 1);
  unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
  imap1 = f: xs: builtins.genList (i: f (i + 1) (elemAt xs i)) (length xs);
  toList = x: if isList x then x else [ x ];
  setAttrByPath =
    path: value: if path == [ ] then value else { ${head path} = setAttrByPath (tail path) value; };

  concatStrings = concatStringsSep "";
  concatMapStrings = f: xs: concatStrings (map f xs);
  concatMapStringsSep = sep: f: xs: concatStringsSep sep (map f xs);
  hasPrefix = pre: s: substring 0 (stringLength pre) s == pre;
  hasSuffix =
    suf: s:
    let
      n = stringLength s;
      k = stringLength suf;
    in
    n >= k && substring (n - k) k s == suf;
  removePrefix =
    pre: s:
    if hasPrefix pre s then substring (stringLength pre) (stringLength s - stringLength pre) s else s;
  # POSIX ERE special characters, backslashed.
  escapeRegex =
    let
      special = [ "\\" "[" "]" "{" "}" "(" ")" "^" "$" "?" "*" "+" "|" "." ];
    in
    builtins.replaceStrings special (map (c: "\\" + c) special);
  splitString = sep: s: filter isString (builtins.split (escapeRegex sep) s);
  hasInfix = infix: s: length (builtins.split (escapeRegex infix) s) > 1;
  toInt =
    s:
    if isString s && match "-?(0|[1-9][0-9]*)" s != null then
      builtins.fromJSON s
    else
      throw "lib.toInt: `${toString s}' is not a decimal integer";
  escapeShellArg = s: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s)}'";
  escapeShellArgs = concatMapStringsSep " " escapeShellArg;
  importJSON = path: builtins.fromJSON (builtins.readFile path);

  isDerivation = x: isAttrs x && (x.type or null) == "derivation";
  getExe' = pkg: exe: "${pkg}/bin/${exe}";
  getExe =
    pkg: getExe' pkg (pkg.meta.mainProgram or (builtins.parseDrvName (pkg.pname or pkg.name)).name);
  literalExpression = text: {
    _type = "literalExpression";
    inherit text;
  };

  # ---- definitions and their properties ------------------------------------------------

  isType = t: v: isAttrs v && (v._type or null) == t;

  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;
  plainPriority = 100;

  # `a.b."10-cluster"`
  showOption =
    loc:
    if loc == [ ] then
      "<top level>"
    else
      concatMapStringsSep "." (n: if match "[a-zA-Z_][a-zA-Z0-9_'-]*" n != null then n else toJSON n) loc;

  # A short, never-failing rendering of a definition for error messages.
  showValue =
    depth: v:
    if isFunction v then
      "<function>"
    else if isString v || isInt v || isBool v || isFloat v || v == null then
      toJSON v
    else if isPath v then
      toString v
    else if isList v then
      if depth > 1 then "[ ... ]" else "[ ${concatMapStrings (x: showValue (depth + 1) x + " ") v}]"
    else if isDerivation v then
      "<derivation ${v.name or "?"}>"
    else if isAttrs v then
      if depth > 1 then
        "{ ... }"
      else
        "{ ${concatMapStrings (n: "${n} = ${showValue (depth + 1) v.${n}}; ") (attrNames v)}}"
    else
      "<${typeOf v}>";
  showDefs = defs: concatMapStrings (d: "\n- In `${d.file}': ${showValue 0 d.value}") defs;

  # One definition -> the values it contributes (mkMerge flattened, mkIf decided); an
  # mkOverride stays wrapped around each value so its priority can be compared.
  discharge =
    loc: v:
    if isType "merge" v then
      concatMap (discharge loc) v.contents
    else if isType "if" v then
      if !isBool v.condition then
        throw "mkIf for `${showOption loc}' has a condition that is not a Boolean: ${showValue 0 v.condition}"
      else if v.condition then
        discharge loc v.content
      else
        [ ]
    else if isType "override" v then
      map (x: if isType "override" x then x else mkOverride v.priority x) (discharge loc v.content)
    else
      [ v ];

  # defs: [ { file; value; } ] for one option (or one element of a list / attribute set).
  # Returns { defined; value; defs; }: value is the type's merge of the definitions of the
  # strongest priority, after each passed the type's check.
  mergeDefinitions =
    loc: type: defs:
    let
      discharged = concatMap (
        d:
        map (value: {
          inherit (d) file;
          inherit value;
        }) (discharge loc d.value)
      ) defs;
      priorityOf = d: if isType "override" d.value then d.value.priority else plainPriority;
      strongest = foldl' (p: d: if priorityOf d < p then priorityOf d else p) 9999 discharged;
      kept = map (d: if isType "override" d.value then d // { value = d.value.content; } else d) (
        filter (d: priorityOf d == strongest) discharged
      );
      checkDef =
        d:
        type.check d.value
        || throw "A definition for option `${showOption loc}' is not of type `${type.description}'. Definition values:${showDefs [ d ]}";
    in
    {
      defined = kept != [ ];
      defs = kept;
      value = if all checkDef kept then type.merge loc kept else null;
    };

  mergeEqual =
    loc: defs:
    let
      first = head defs;
    in
    foldl' (
      v: d:
      if d.value == first.value then
        v
      else
        throw "The option `${showOption loc}' has conflicting definition values:${showDefs [ first d ]}"
    ) first.value (tail defs);

  # ---- options and types ----------------------------------------------------------------

  optionAttrs = [
    "default"
    "defaultText"
    "example"
    "description"
    "type"
    "apply"
    "internal"
    "visible"
    "readOnly"
    "relatedPackages"
  ];
  mkOption =
    attrs:
    let
      unknown = attrNames (removeAttrs attrs optionAttrs);
    in
    if unknown != [ ] then
      throw "mkOption: unknown attribute `${head unknown}'"
    else
      attrs
      // {
        _type = "option";
        type = attrs.type or types.unspecified;
      };
  mkEnableOption =
    name:
    mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = "Whether to enable ${name}.";
    };
  isOption = isType "option";

  mkOptionType =
    {
      name,
      description,
      check,
      merge ? mergeEqual,
      # "noun" (a single word), "conjunction" ("a or b": parenthesised inside other types)
      descriptionClass ? "noun",
    }:
    {
      _type = "type";
      inherit
        name
        description
        check
        merge
        descriptionClass
        ;
    };
  nested = t: if t.descriptionClass == "conjunction" then "(${t.description})" else t.description;

  # Attribute sets that merge per name; `strict` drops names whose definitions all vanished
  # under mkIf (attrsOf), lazy keeps every name (lazyAttrsOf).
  attrsMerge =
    strict: elemType: loc: defs:
    let
      perName = zipAttrsWith (_: ds: ds) (
        map (
          d:
          mapAttrs (_: value: {
            inherit (d) file;
            inherit value;
          }) d.value
        ) defs
      );
      merged = mapAttrs (n: ds: mergeDefinitions (loc ++ [ n ]) elemType ds) perName;
    in
    if strict then
      mapAttrs (_: r: r.value) (filterAttrs (_: r: r.defined) merged)
    else
      mapAttrs (
        n: r:
        if r.defined then r.value else throw "The option `${showOption (loc ++ [ n ])}' is used but not defined."
      ) merged;

  types = rec {
    str = mkOptionType {
      name = "str";
      description = "string";
      check = isString;
    };
    lines = mkOptionType {
      name = "lines";
      description = ''strings concatenated with "\n"'';
      check = isString;
      merge = _loc: defs: concatMapStringsSep "\n" (d: d.value) defs;
    };
    bool = mkOptionType {
      name = "bool";
      description = "boolean";
      check = isBool;
    };
    int = mkOptionType {
      name = "int";
      description = "signed integer";
      check = isInt;
    };
    port = mkOptionType {
      name = "port";
      description = "16 bit unsigned integer; between 0 and 65535 (both inclusive)";
      check = x: isInt x && x >= 0 && x <= 65535;
    };
    path = mkOptionType {
      name = "path";
      description = "absolute path";
      check = x: isPath x || isDerivation x || (isString x && hasPrefix "/" x);
    };
    package = mkOptionType {
      name = "package";
      description = "package";
      check = x: isDerivation x || (isString x && hasPrefix builtins.storeDir x);
    };
    enum =
      values:
      mkOptionType {
        name = "enum";
        description = "one of ${concatMapStringsSep ", " toJSON values}";
        check = x: elem x values;
      };
    unspecified = mkOptionType {
      name = "unspecified";
      description = "unspecified value";
      check = _: true;
      merge =
        loc: defs:
        let
          values = map (d: d.value) defs;
        in
        if length defs == 1 then
          head values
        else if all isList values then
          concatLists values
        else if all (v: isAttrs v && !isDerivation v) values then
          foldl' (a: b: a // b) { } values
        else
          mergeEqual loc defs;
    };
    # Attribute sets merge per name, one list definition keeps its elements (mkIf inside
    # resolved), anything else must agree.
    anything = mkOptionType {
      name = "anything";
      description = "anything";
      check = _: true;
      merge =
        loc: defs:
        let
          values = map (d: d.value) defs;
        in
        if all (v: isAttrs v && !isDerivation v) values then
          (attrsOf anything).merge loc defs
        else if length defs == 1 && isList (head values) then
          (listOf anything).merge loc defs
        else
          mergeEqual loc defs;
    };
    listOf =
      elemType:
      mkOptionType {
        name = "listOf";
        description = "list of ${nested elemType}";
        check = isList;
        merge =
          loc: defs:
          concatLists (
            imap1 (
              i: d:
              concatLists (
                imap1 (
                  j: value:
                  let
                    r = mergeDefinitions (loc ++ [ "[definition ${toString i}-entry ${toString j}]" ]) elemType [
                      {
                        inherit (d) file;
                        inherit value;
                      }
                    ];
                  in
                  optional r.defined r.value
                ) d.value
              )
            ) defs
          );
      };
    attrsOf =
      elemType:
      mkOptionType {
        name = "attrsOf";
        description = "attribute set of ${nested elemType}";
        check = isAttrs;
        merge = attrsMerge true elemType;
      };
    lazyAttrsOf =
      elemType:
      mkOptionType {
        name = "lazyAttrsOf";
        description = "lazy attribute set of ${nested elemType}";
        check = isAttrs;
        merge = attrsMerge false elemType;
      };
    nullOr =
      elemType:
      mkOptionType {
        name = "nullOr";
        description = "null or ${nested elemType}";
        descriptionClass = "conjunction";
        check = x: x == null || elemType.check x;
        merge =
          loc: defs:
          let
            nulls = length (filter (d: d.value == null) defs);
          in
          if nulls == length defs then
            null
          else if nulls > 0 then
            throw "The option `${showOption loc}' is defined both null and not null:${showDefs defs}"
          else
            elemType.merge loc defs;
      };
    either =
      a: b:
      mkOptionType {
        name = "either";
        description = "${nested a} or ${nested b}";
        descriptionClass = "conjunction";
        check = x: a.check x || b.check x;
        merge =
          loc: defs:
          if all (d: a.check d.value) defs then
            a.merge loc defs
          else if all (d: b.check d.value) defs then
            b.merge loc defs
          else
            throw "The option `${showOption loc}' has definitions of different types:${showDefs defs}";
      };
    oneOf =
      ts: if ts == [ ] then throw "types.oneOf: empty list" else foldl' either (head ts) (tail ts);
    submodule =
      modules:
      mkOptionType {
        name = "submodule";
        description = "submodule";
        check = x: isAttrs x || isFunction x || isPath x;
        merge =
          loc: defs:
          (evalModules {
            prefix = loc;
            specialArgs.name = last loc;
            modules =
              toList modules
              ++ map (d: {
                _file = d.file;
                imports = [ d.value ];
              }) defs;
          }).config;
      };
  };

  # ---- the module system -----------------------------------------------------------------

  moduleAttrs = [
    "_file"
    "key"
    "imports"
    "disabledModules"
    "options"
    "config"
    "freeformType"
    "meta"
  ];

  # A module as { file; imports; disabledModules; options; config; freeformType; }.
  normalise =
    file: m:
    if !isAttrs m then
      throw "The module in `${file}' is a ${typeOf m}, not a module (a function or an attribute set)."
    else
      let
        file' = m._file or file;
        structured = m ? options || m ? config;
        rest = removeAttrs m moduleAttrs;
      in
      if structured && rest != { } then
        throw "Module `${file'}' has an unsupported attribute `${head (attrNames rest)}': with `options' or `config' at its top level, definitions belong in `config'."
      else
        {
          file = file';
          imports = m.imports or [ ];
          disabledModules = m.disabledModules or [ ];
          options = m.options or { };
          config = if structured then m.config or { } else rest;
          freeformType = m.freeformType or null;
        };

  # The declarations of all modules as one tree; leaves are options.
  declarationTree =
    loc: decls:
    let
      options = filter (d: isOption d.value) decls;
      namespaces = filter (d: !isOption d.value) decls;
    in
    if options != [ ] then
      if length options > 1 then
        throw "The option `${showOption loc}' in `${(elemAt options 1).file}' is already declared in `${(head options).file}'."
      else if namespaces != [ ] then
        throw "The option `${showOption loc}' in `${(head options).file}' is also a set of options in `${(head namespaces).file}'."
      else
        (head options).value // { declarations = [ (head options).file ]; }
    else
      mapAttrs (name: ds: declarationTree (loc ++ [ name ]) ds) (
        zipAttrsWith (_: ds: ds) (
          map (
            d:
            if isAttrs d.value then
              mapAttrs (_: value: {
                inherit (d) file;
                inherit value;
              }) d.value
            else
              throw "`${showOption loc}' in `${d.file}' is neither an option nor a set of options."
          ) decls
        )
      );

  # A definition of a namespace -> [ { name; value; } ], its properties pushed down to each
  # attribute (mkIf c { a = 1; } -> a = mkIf c 1), so no condition is decided here.
  pushDown =
    loc: d:
    let
      v = d.value;
      inner = content: pushDown loc (d // { value = content; });
    in
    if isType "merge" v then
      concatMap inner v.contents
    else if isType "if" v then
      map (a: a // { value = mkIf v.condition a.value; }) (inner v.content)
    else if isType "override" v then
      map (a: a // { value = mkOverride v.priority a.value; }) (inner v.content)
    else if isAttrs v && !(v ? _type) then
      mapAttrsToList nameValuePair v
    else
      throw "`${showOption loc}' is a set of options, but `${d.file}' defines it as ${showValue 0 v}.";

  # Walks the declaration tree alongside the definitions: { config; options; unmatched; }.
  # config and options follow the declarations (so their shape never depends on config);
  # unmatched lists the definitions of names no option declares.
  evalTree =
    loc: tree: defs:
    let
      byName = zipAttrsWith (_: ds: ds) (
        concatMap (
          d:
          map (a: {
            ${a.name} = {
              inherit (d) file;
              inherit (a) value;
            };
          }) (pushDown loc d)
        ) defs
      );
      children = mapAttrs (
        n: sub:
        if isOption sub then
          {
            option = evalOption (loc ++ [ n ]) sub (byName.${n} or [ ]);
            unmatched = [ ];
          }
        else
          evalTree (loc ++ [ n ]) sub (byName.${n} or [ ])
      ) tree;
    in
    {
      config = mapAttrs (_: c: if c ? option then c.option.value else c.config) children;
      options = mapAttrs (_: c: if c ? option then c.option else c.options) children;
      unmatched =
        map (n: {
          path = loc ++ [ n ];
          defs = byName.${n};
        }) (filter (n: !(tree ? ${n})) (attrNames byName))
        ++ concatMap (n: children.${n}.unmatched) (attrNames children);
    };

  evalOption =
    loc: opt: defs:
    let
      defaults = optional (opt ? default) {
        file = "the default of `${showOption loc}'";
        value = mkOptionDefault opt.default;
      };
      merged = mergeDefinitions loc opt.type (defs ++ defaults);
      value =
        if merged.defined then merged.value else throw "The option `${showOption loc}' is used but not defined.";
    in
    opt
    // {
      inherit loc;
      value = if opt ? apply then opt.apply value else value;
      isDefined = merged.defined;
      files = map (d: d.file) merged.defs;
      __toString = _: showOption loc;
    };

  # Merges two attribute sets, recursing where both have a set under one name.
  combine =
    a: b:
    a
    // mapAttrs (
      n: bv:
      if a ? ${n} && isAttrs a.${n} && !isDerivation a.${n} && isAttrs bv && !isDerivation bv then
        combine a.${n} bv
      else
        bv
    ) b;

  evalModules =
    {
      modules,
      specialArgs ? { },
      prefix ? [ ],
    }:
    let
      args = specialArgs // {
        inherit lib options;
        config = unchecked;
      };

      # A module (path, function or set) -> a node of the import graph, keyed by its file
      # for paths (a file imported twice counts once) and by its position otherwise.
      load =
        key: file: m:
        let
          fromPath = isPath m || (isString m && hasPrefix "/" m);
          key' = if fromPath then toString m else key;
          raw = if fromPath then import m else m;
          module = normalise (if fromPath then toString m else file) (
            if isFunction raw then raw args else raw
          );
        in
        {
          key = key';
          inherit module;
          children = imap1 (i: load "${key'}:${toString i}" module.file) module.imports;
        };
      roots = imap1 (i: load "<module ${toString i}>" "<module ${toString i}>") modules;

      modulesPath = toString (specialArgs.modulesPath or "/");
      disabledKey = d: if isString d && !hasPrefix "/" d then "${modulesPath}/${d}" else toString d;
      disabled = map disabledKey (
        concatMap (n: n.module.disabledModules) (genericClosure {
          startSet = roots;
          operator = n: n.children;
        })
      );
      enabled = map (n: n.module) (genericClosure {
        startSet = filter (n: !elem n.key disabled) roots;
        operator = n: filter (c: !elem c.key disabled) n.children;
      });

      declarations = declarationTree prefix (
        map (m: {
          inherit (m) file;
          value = m.options;
        }) enabled
      );
      evaluated = evalTree prefix declarations (
        map (m: {
          inherit (m) file;
          value = m.config;
        }) enabled
      );
      options = evaluated.options;

      freeformTypes = filter (t: t != null) (map (m: m.freeformType) enabled);
      freeformType = if freeformTypes == [ ] then null else head freeformTypes;
      unchecked =
        if freeformType == null then
          evaluated.config
        else
          combine evaluated.config (
            freeformType.merge prefix (
              concatMap (
                u:
                map (
                  d: d // { value = setAttrByPath (builtins.genList (i: elemAt u.path (length prefix + i)) (length u.path - length prefix)) d.value; }
                ) u.defs
              ) evaluated.unmatched
            )
          );
      unknown =
        if freeformType == null && evaluated.unmatched != [ ] then
          let
            u = head evaluated.unmatched;
          in
          throw "The option `${showOption u.path}' does not exist. Definition values:${showDefs u.defs}"
        else
          null;
    in
    {
      config = builtins.seq unknown unchecked;
      inherit options;
    };

  lib = {
    inherit (builtins)
      all
      any
      attrNames
      attrValues
      concatLists
      concatMap
      concatStringsSep
      elem
      filter
      foldl'
      head
      isAttrs
      isBool
      isInt
      isList
      isString
      length
      listToAttrs
      mapAttrs
      replaceStrings
      tail
      ;
    inherit
      concatMapStrings
      concatMapStringsSep
      concatStrings
      escapeShellArg
      escapeShellArgs
      evalModules
      filterAttrs
      genAttrs
      getExe
      getExe'
      hasInfix
      hasPrefix
      hasSuffix
      importJSON
      isDerivation
      last
      literalExpression
      mapAttrs'
      mapAttrsToList
      mkDefault
      mkEnableOption
      mkForce
      mkIf
      mkMerge
      mkOption
      mkOptionDefault
      mkOptionType
      mkOverride
      nameValuePair
      optional
      optionalAttrs
      optionalString
      optionals
      removePrefix
      setAttrByPath
      showOption
      splitString
      toInt
      toList
      types
      unique
      ;
  };
in
lib
