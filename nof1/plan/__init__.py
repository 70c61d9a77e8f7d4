"""The plan: what a trial registers before its first dose.

The protocol and its templates, the commitment over the whole plan, sealing the
allocation, drawing it, the stopping rules, the calendar and the files they are kept in.
Nothing here reads a diary.
"""
