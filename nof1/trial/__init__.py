"""The trial folder as a whole: creating it, opening it once as a verified ``Trial``, its
integrity, its status and its interim looks as recorded."""
